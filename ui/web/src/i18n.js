// Message catalogue: zh-CN and English, the choice remembered per browser.
import en from './i18n/en.json';
import zh from './i18n/zh-CN.json';

const catalogues = { en, 'zh-CN': zh };
const storeKey = 'scadaui.lang';
let lang = pick();
const listeners = [];

function pick() {
  let saved = null;
  try { saved = localStorage.getItem(storeKey); } catch { /* storage off */ }
  if (saved && catalogues[saved]) return saved;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function language() { return lang; }
export const languages = Object.keys(catalogues);

export function setLanguage(l) {
  if (!catalogues[l]) return;
  lang = l;
  try { localStorage.setItem(storeKey, l); } catch { /* storage off */ }
  document.documentElement.lang = l;
  for (const f of listeners) f();
}

export function onLanguage(f) { listeners.push(f); }

// t(key, {n: 3}) -> the message with {n} replaced. A missing key is a
// bug: it is logged as an error (the browser tests fail on console errors)
// and shown as the key.
export function t(key, params) {
  let msg = catalogues[lang][key];
  if (msg === undefined) {
    console.error(`i18n: missing key ${key} in ${lang}`);
    msg = key;
  }
  if (params) msg = msg.replace(/\{(\w+)\}/g, (m, p) => (p in params ? String(params[p]) : m));
  return msg;
}

// Formats a number for the current language.
export function num(v, digits = 2) {
  return new Intl.NumberFormat(lang, { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(v);
}

// Formats a time (ms) in the browser's time zone.
export function time(ms) {
  return new Date(ms).toLocaleString(lang, { hour12: false });
}

// Formats an age in seconds: "3 s", "5 min", "2 h".
export function age(s) {
  if (s < 90) return t('age.seconds', { n: Math.round(s) });
  if (s < 5400) return t('age.minutes', { n: Math.round(s / 60) });
  if (s < 172800) return t('age.hours', { n: Math.round(s / 3600) });
  return t('age.days', { n: Math.round(s / 86400) });
}
