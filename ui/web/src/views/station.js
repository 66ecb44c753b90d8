// Station: live pressure charts (refreshed every second for short ranges)
// with gaps and comm-lost periods shaded, and valve-state timelines.
import uPlot from 'uplot';
import { api, APIError } from '../api.js';
import { h, clear } from '../dom.js';
import { t, num, time, language } from '../i18n.js';
import { priorityText, stateText } from './alarms.js';

const ranges = [
  [300, 'range.5m'], [3600, 'range.1h'], [21600, 'range.6h'], [86400, 'range.24h'], [604800, 'range.7d'],
];
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
const knownStatus = new Set(['open', 'closed', 'travel', 'fault']);

// statusText translates the usual valve statuses; other configured names
// are shown as they are (as text).
function statusText(s) {
  return knownStatus.has(s) ? t('valve.' + s) : s;
}

// runs returns [from, to) index runs where pred(i) holds.
function runs(n, pred) {
  const out = [];
  for (let i = 0; i < n;) {
    if (!pred(i)) { i++; continue; }
    let j = i;
    while (j < n && pred(j)) j++;
    out.push([i, j]);
    i = j;
  }
  return out;
}

// shadePlugin shades comm-lost periods (red) and steps without good data
// (grey hatch: a gap or bad quality) under the series.
function shadePlugin(getShading) {
  return {
    hooks: {
      drawClear: (u) => {
        const s = getShading();
        if (!s) return;
        const { ctx } = u;
        const { top, height } = u.bbox;
        const x = (ms) => u.valToPos(ms, 'x', true);
        ctx.save();
        ctx.fillStyle = 'rgba(160,160,160,0.28)';
        for (const [a, b] of s.gaps) ctx.fillRect(x(a), top, Math.max(1, x(b) - x(a)), height);
        ctx.fillStyle = 'rgba(220,40,40,0.22)';
        for (const [a, b] of s.lost) ctx.fillRect(x(a), top, Math.max(1, x(b) - x(a)), height);
        ctx.restore();
      },
    },
  };
}

const limitColour = { critical: '#b00020', high: '#e8590c', medium: '#b8860b', low: '#1f6fb2' };

// label reads one label of a series selector text such as
// scada_pressure_gauge{point="PT-101", station="ST-07"}.
function label(series, name) {
  const m = new RegExp('[{,\\s]' + name + '="((?:[^"\\\\]|\\\\.)*)"').exec(series || '');
  return m ? m[1].replace(/\\(.)/g, '$1') : null;
}

// stationLimits: the limit alarms of this station, as lines to draw:
// { point (null: every series of the unit), unit, level, limit, priority, state }.
function stationLimits(alarms, station) {
  const out = [];
  for (const a of alarms) {
    if (a.kind !== 'limit' || a.limit == null) continue;
    const st = a.station || label(a.series, 'station');
    if (st !== station) continue;
    out.push({ id: a.alarm_id, point: label(a.series, 'point'), unit: a.unit || null, level: a.level || '', limit: a.limit, priority: a.priority, state: a.state });
  }
  return out;
}

// limitPlugin draws each alarm limit of a chart as a dashed line in its
// priority's colour, labelled with its level (canvas text).
function limitPlugin(getLimits) {
  return {
    hooks: {
      draw: (u) => {
        const ls = getLimits();
        if (!ls || !ls.length) return;
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        ctx.save();
        ctx.setLineDash([6, 4]);
        ctx.lineWidth = 1.5;
        ctx.font = '11px system-ui, sans-serif';
        for (const l of ls) {
          const y = u.valToPos(l.limit, 'y', true);
          if (!(y >= top && y <= top + height)) continue;
          ctx.strokeStyle = ctx.fillStyle = limitColour[l.priority] || '#555';
          ctx.beginPath();
          ctx.moveTo(left, y);
          ctx.lineTo(left + width, y);
          ctx.stroke();
          ctx.fillText(l.level + ' ' + num(l.limit), left + 4, y - 3);
        }
        ctx.restore();
      },
    },
  };
}

// yRange keeps a chart's alarm limits in view beside its data.
function yRange(limits, mn, mx) {
  let lo = mn, hi = mx;
  for (const l of limits || []) {
    lo = lo == null ? l.limit : Math.min(lo, l.limit);
    hi = hi == null ? l.limit : Math.max(hi, l.limit);
  }
  if (lo == null || hi == null) return [0, 1];
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
  return [lo - pad, hi + pad];
}

export function stationView(main, station, onAuthLost, opts = {}) {
  let rangeS = 300;
  let stopped = false;
  let timer = null;
  let charts = []; // { unit, plot, shading, limits, el, limitsEl }
  let alarms = []; // the tenant's alarms (limits drawn on the charts)
  let alarmsAt = 0;
  const status = h('p', { class: 'status', id: 'station-status' }, t('common.loading'));
  const rangeBar = h('div', { class: 'ranges', role: 'group', 'aria-label': t('station.range') });
  const chartsBox = h('div', { class: 'charts', id: 'charts' });
  const valvesBox = h('div', { class: 'valves', id: 'valves' });
  const legend = h('p', { class: 'legend-note' },
    h('span', { class: 'swatch lost' }), ' ', t('station.legend.commLost'), '  ',
    h('span', { class: 'swatch gap' }), ' ', t('station.legend.gap'),
    opts.alarms ? ['  ', h('span', { class: 'swatch limit' }), ' ', t('station.legend.limit')] : null);
  main.append(
    h('p', {}, h('a', { href: '#/overview' }, '← ' + t('nav.overview'))),
    h('h2', {}, t('station.title'), ': ', h('span', { id: 'station-name' }, station)),
    rangeBar, status, legend, chartsBox,
    h('h3', {}, t('station.valves')), valvesBox);

  function renderRanges() {
    clear(rangeBar).append(...ranges.map(([s, key]) => h('button', {
      type: 'button', class: s === rangeS ? 'on' : '', 'data-range': s,
      onclick: () => { rangeS = s; renderRanges(); destroyCharts(); refresh(); },
    }, t(key))));
  }

  function destroyCharts() {
    for (const c of charts) c.plot.destroy();
    charts = [];
    clear(chartsBox);
  }

  // Tick labels in the chosen language and the browser's time zone, 24 h.
  function tickLabel(ms) {
    const d = new Date(ms);
    const hm = d.toLocaleTimeString(language(), rangeS <= 3600
      ? { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }
      : { hour: '2-digit', minute: '2-digit', hour12: false });
    return rangeS > 86400 ? d.toLocaleDateString(language(), { month: '2-digit', day: '2-digit' }) + ' ' + hm : hm;
  }

  function width() { return Math.max(320, (chartsBox.clientWidth || main.clientWidth || 800) - 8); }

  function renderCharts(d) {
    const byUnit = new Map();
    for (const s of d.pressure) {
      if (!byUnit.has(s.unit)) byUnit.set(s.unit, []);
      byUnit.get(s.unit).push(s);
    }
    const key = [...byUnit.entries()].map(([u, ss]) => u + ':' + ss.map((s) => s.point).join(',')).join('|');
    if (charts.key !== key) {
      destroyCharts();
      charts.key = key;
      for (const [unit, series] of byUnit) {
        const c = { unit, shading: null, limits: [], points: series.map((s) => s.point) };
        const el = h('div', { class: 'chart', 'data-unit': unit });
        c.limitsEl = h('ul', { class: 'chart-limits', 'data-unit': unit });
        chartsBox.append(h('h3', {}, t('station.pressure'), ' (', h('span', {}, unit || t('station.noUnit')), ')'), el, c.limitsEl);
        c.plot = new uPlot({
          width: width(), height: 260, ms: 1,
          scales: { x: { time: true }, y: { range: (u, mn, mx) => yRange(c.limits, mn, mx) } },
          axes: [{ values: (u, splits) => splits.map(tickLabel) }, { label: unit }],
          series: [{ label: t('station.time'), value: (u, v) => (v == null ? '—' : time(v)) }, ...series.map((s, i) => ({
            label: s.point, stroke: palette[i % palette.length], width: 1.5, spanGaps: false,
            value: (u, v) => (v == null ? '—' : num(v) + ' ' + unit),
          }))],
          plugins: [shadePlugin(() => c.shading), limitPlugin(() => c.limits)],
        }, [[]], el);
        charts.push(c);
      }
    }
    const n = d.timestamps.length;
    const lostIdx = new Array(n).fill(false);
    const lost = d.comm_lost.map((s) => [s.from_ms, s.to_ms]);
    for (const [a, b] of lost) for (let i = 0; i < n; i++) if (d.timestamps[i] >= a && d.timestamps[i] < b) lostIdx[i] = true;
    for (const c of charts) {
      const series = byUnit.get(c.unit);
      const gaps = runs(n, (i) => !lostIdx[i] && series.some((s) => s.values[i] == null))
        .map(([a, b]) => [d.timestamps[a], d.timestamps[b - 1] + d.step_ms]);
      c.shading = { gaps, lost };
      setLimits(c);
      c.plot.setData([d.timestamps, ...series.map((s) => s.values)]);
    }
    if (!d.pressure.length) {
      destroyCharts();
      chartsBox.append(h('p', { class: 'muted' }, t('station.noPressure')));
      charts.key = 'none';
    }
  }

  // setLimits picks the chart's alarm limits (by point, else by unit) and
  // lists them as text under the chart.
  function setLimits(c) {
    const ls = stationLimits(alarms, station).filter((l) => (l.point != null ? c.points.includes(l.point) : l.unit === c.unit));
    c.limits = ls;
    clear(c.limitsEl).append(...ls.map((l) => h('li', { class: 'limit-item', 'data-alarm': l.id, 'data-limit': l.limit },
      h('span', { class: 'limit-line prio-' + l.priority }), ' ',
      (l.point || '') + ' ' + l.level + ' ', num(l.limit) + (c.unit ? ' ' + c.unit : ''),
      ' (' + priorityText(l.priority) + ', ' + stateText(l.state) + ')')));
  }

  async function loadAlarms() {
    if (!opts.alarms || Date.now() - alarmsAt < 5000) return;
    alarmsAt = Date.now();
    try {
      alarms = (await api.alarms(false, 10000, station)).alarms || [];
    } catch (e) {
      if (e instanceof APIError && e.status === 401) throw e;
      alarms = []; // the charts still show; the alarm list says what failed
    }
  }

  function renderValves(d) {
    clear(valvesBox);
    if (!d.valves.length) {
      valvesBox.append(h('p', { class: 'muted' }, t('station.noValves')));
      return;
    }
    const span = d.end_ms + d.step_ms - d.start_ms;
    for (const v of d.valves) {
      const bar = h('div', { class: 'timeline' });
      for (const s of v.segments) {
        const seg = h('div', {
          class: 'seg ' + (knownStatus.has(s.status) ? 'vs-' + s.status : 'vs-other'),
          title: statusText(s.status) + ': ' + time(s.from_ms) + ' – ' + time(s.to_ms),
        });
        seg.style.left = ((s.from_ms - d.start_ms) / span * 100) + '%';
        seg.style.width = Math.max(0.2, (s.to_ms - s.from_ms) / span * 100) + '%';
        bar.append(seg);
      }
      const last = v.segments.length ? v.segments[v.segments.length - 1].status : '';
      valvesBox.append(h('div', { class: 'valve' },
        h('span', { class: 'valve-id' }, v.valve_id),
        h('span', { class: 'valve-now' }, statusText(last)),
        bar));
    }
  }

  async function refresh() {
    clearTimeout(timer);
    const asked = rangeS;
    try {
      const [d] = await Promise.all([api.station(station, rangeS), loadAlarms()]);
      if (stopped || asked !== rangeS) return;
      renderCharts(d);
      renderValves(d);
      status.textContent = t('station.updated', { time: time(d.end_ms), step: num(d.step_ms / 1000, 0) });
      // After the charts are drawn (uPlot draws in a microtask) and painted:
      // the browser tests time renders with this mark.
      const detail = { range: asked, series: d.pressure.length, points: d.timestamps.length };
      requestAnimationFrame(() => setTimeout(() => performance.mark('scadaui:station-rendered', { detail }), 0));
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 401) return onAuthLost();
      status.textContent = t('error.generic', { msg: e.message });
    }
    // Live: every second up to 1 h, then once per downsampling step (>= 10 s).
    if (!stopped) timer = setTimeout(refresh, rangeS <= 3600 ? 1000 : 10000);
  }

  const onResize = () => { for (const c of charts) c.plot.setSize({ width: width(), height: 260 }); };
  window.addEventListener('resize', onResize);
  renderRanges();
  refresh();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      window.removeEventListener('resize', onResize);
      destroyCharts();
    },
  };
}
