package vmexporter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// seriesDump renders a converted batch as series name -> sorted samples.
func seriesDump(t *testing.T, b *batch) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	rows, err := decodeRecord(b.payload, nil)
	require.NoError(t, err)
	require.Equal(t, len(b.rows), len(rows), "WAL record and rows agree")
	for i, r := range b.rows {
		require.Equal(t, r.MetricNameRaw, rows[i].MetricNameRaw)
		require.Equal(t, math.Float64bits(r.Value), math.Float64bits(rows[i].Value))
		name, err := vmstore.NameString(r.MetricNameRaw)
		require.NoError(t, err)
		out[name] = append(out[name], fmt.Sprintf("%d=%x", r.Timestamp, math.Float64bits(r.Value)))
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// tricky builds metrics that exercise the translator's rules: sanitized
// and colliding attribute names, empty values, typed values, service
// identity, promoted attributes overridden by data-point attributes, a
// forged tenant label, units, monotonic and non-monotonic and delta sums,
// an empty gauge, several resources and scopes, and non-contiguous points
// of one series.
func tricky(r *rand.Rand, tenantA, tenantB string) pmetric.Metrics {
	md := fixture(tenantA, 3)
	fixture(tenantB, 7).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	t1 := time.Now().Truncate(time.Millisecond).Add(-time.Hour)
	// Resource 3 differs from resource 0 only by service.namespace,
	// resource 4 from resource 0 only by the tenant, resource 5 from 0
	// only by a promoted attribute, resource 6 from 0 only by an attribute
	// that reaches target_info alone.
	for ri, tenant := range []string{tenantA, tenantB, tenantA, tenantA, tenantB, tenantA, tenantA} {
		rm := md.ResourceMetrics().AppendEmpty()
		tenants.SetOnResource(rm.Resource(), tenant)
		ra := rm.Resource().Attributes()
		base := ri
		if ri >= 3 {
			base = 0
		}
		ra.PutStr("service.name", fmt.Sprintf("gw-%d", base))
		if base != 1 {
			if ri != 3 {
				ra.PutStr("service.namespace", "north")
			}
			ra.PutStr("service.instance.id", fmt.Sprintf("i-%d", base))
		}
		ra.PutStr("scada.station", fmt.Sprintf("st-%d", base))
		ra.PutStr("host.name", "box")
		if ri == 2 {
			ra.PutStr("scada.plc", "plc-9")
		}
		if ri == 5 {
			ra.PutStr("scada.site", "far")
		}
		if ri == 6 {
			ra.PutStr("os.type", "linux")
		}
		for si := 0; si < 2; si++ {
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(fmt.Sprintf("scope-%d", si))
			g := sm.Metrics().AppendEmpty()
			g.SetName("line.pressure-kPa")
			g.SetUnit("kPa")
			dps := g.SetEmptyGauge().DataPoints()
			for k := 0; k < 12; k++ {
				dp := dps.AppendEmpty()
				dp.SetTimestamp(pcommon.NewTimestampFromTime(t1.Add(time.Duration(k*37+si) * time.Millisecond)))
				a := dp.Attributes()
				a.PutStr("sensor", fmt.Sprintf("p%d", k%3)) // series interleave: non-contiguous runs
				a.PutStr("sensor.kind", "strain")
				a.PutStr("sensor_kind", "gauge") // collides with sensor.kind after sanitizing
				a.PutStr("empty", "")
				a.PutInt("channel", int64(k%2))
				a.PutBool("primary", k%2 == 0)
				a.PutDouble("gain", 1.5)
				if k == 5 {
					a.PutStr("scada.station", "dp-override") // promoted label overridden
					a.PutStr(tenants.MetricLabel, "forged")
				}
				switch r.IntN(3) {
				case 0:
					dp.SetIntValue(int64(r.IntN(1000)))
				case 1:
					dp.SetDoubleValue(r.Float64() * 100)
				default:
					dp.SetDoubleValue(0)
					dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
				}
			}
			for _, kind := range []string{"mono", "updown", "delta"} {
				m := sm.Metrics().AppendEmpty()
				m.SetName("pump." + kind)
				m.SetUnit("By/s")
				sum := m.SetEmptySum()
				sum.SetIsMonotonic(kind == "mono")
				if kind == "delta" {
					sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
				} else {
					sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				}
				for k := 0; k < 3; k++ {
					dp := sum.DataPoints().AppendEmpty()
					dp.SetTimestamp(pcommon.NewTimestampFromTime(t1.Add(time.Duration(500+k) * time.Millisecond)))
					dp.SetIntValue(int64(k + ri))
					dp.Attributes().PutStr("pump", "a")
				}
			}
			empty := sm.Metrics().AppendEmpty()
			empty.SetName("nothing")
			empty.SetEmptyGauge()
			ratio := sm.Metrics().AppendEmpty()
			ratio.SetName("valve.open")
			ratio.SetUnit("1")
			ratio.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(0.5)
			ratio.Gauge().DataPoints().At(0).SetTimestamp(pcommon.NewTimestampFromTime(t1.Add(time.Second)))
		}
	}
	return md
}

// TestFastPathMatchesTranslator: the cached path produces exactly the
// series and samples of the contrib translator, on first sight and from
// the cache, with and without promotion, suffixes and target_info.
func TestFastPathMatchesTranslator(t *testing.T) {
	for _, variant := range []struct {
		name string
		edit func(*Config)
	}{
		{"defaults", func(*Config) {}},
		{"no suffixes, no target_info, no promotion", func(c *Config) {
			c.AddMetricSuffixes, c.TargetInfo, c.ResourceToLabels = false, false, nil
		}},
	} {
		t.Run(variant.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			variant.edit(cfg)
			fast, err := newConverter(cfg)
			require.NoError(t, err)
			slow, err := newConverter(cfg)
			require.NoError(t, err)
			slow.translatorOnly = true
			r := rand.New(rand.NewPCG(1, 2))
			for round := 0; round < 3; round++ { // round 1+: from the cache
				md := tricky(r, "west", "east")
				var fb, sb batch
				require.NoError(t, fast.convert(md, &fb))
				require.NoError(t, slow.convert(md, &sb))
				want := seriesDump(t, &sb)
				got := seriesDump(t, &fb)
				require.NotEmpty(t, want)
				assert.Equal(t, want, got, "round %d", round)
				assert.Equal(t, len(sb.rows), len(fb.rows))
			}
			assert.NotEmpty(t, fast.cache.m)
		})
	}
}

func TestSeriesCacheIsBounded(t *testing.T) {
	var c seriesCache
	c.m = map[string]*cachedSeries{}
	for i := 0; i < maxCachedSeries+10; i++ {
		c.put([]byte(fmt.Sprint(i)), &cachedSeries{})
	}
	assert.LessOrEqual(t, len(c.m), maxCachedSeries)
	assert.NotNil(t, c.get([]byte(fmt.Sprint(maxCachedSeries+9))))
}

// Concurrent pushes share one converter and its cache.
func TestFastPathConcurrentUse(t *testing.T) {
	fast, err := newConverter(createDefaultConfig().(*Config))
	require.NoError(t, err)
	slow, err := newConverter(createDefaultConfig().(*Config))
	require.NoError(t, err)
	slow.translatorOnly = true
	md := tricky(rand.New(rand.NewPCG(3, 4)), "west", "east")
	var sb batch
	require.NoError(t, slow.convert(md, &sb))
	want := seriesDump(t, &sb)
	got := make([]map[string][]string, 4)
	done := make(chan int)
	for g := range got {
		go func() {
			defer func() { done <- g }()
			for i := 0; i < 5; i++ {
				var fb batch
				if err := fast.convert(md, &fb); err != nil {
					return
				}
				rows, err := decodeRecord(fb.payload, nil)
				if err != nil || len(rows) != len(fb.rows) {
					return
				}
				dump := map[string][]string{}
				for _, r := range fb.rows {
					name, _ := vmstore.NameString(r.MetricNameRaw)
					dump[name] = append(dump[name], fmt.Sprintf("%d=%x", r.Timestamp, math.Float64bits(r.Value)))
				}
				for _, v := range dump {
					sort.Strings(v)
				}
				got[g] = dump
			}
		}()
	}
	for range got {
		<-done
	}
	for g := range got {
		assert.Equal(t, want, got[g], "goroutine %d", g)
	}
}
