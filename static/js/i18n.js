// Strings the page shows, in the reader's language. The catalogue comes from Django's
// JavaScriptCatalog (/jsi18n/, loaded before the modules by base.html); xgettext finds the
// calls by these names, so keep them: gettext('…'), ngettext('…', '…', n).
// Placeholders are named: t('%(count)s answers', {count: 3}).
const catalog = globalThis.django ?? {
  gettext: (s) => s,
  ngettext: (s, p, n) => (n === 1 ? s : p),
  interpolate: (s, v) => s.replace(/%\((\w+)\)s/g, (_, k) => String(v[k])),
};

export function gettext(msgid, values) {
  const text = catalog.gettext(msgid);
  return values ? catalog.interpolate(text, values, true) : text;
}

export function ngettext(singular, plural, count, values) {
  return catalog.interpolate(catalog.ngettext(singular, plural, count), { count, ...values }, true);
}

// Numbers and dates in the reader's locale (<html lang>) and time zone (their profile's, as
// <html data-time-zone> says; the browser's when the page names none).
const root = globalThis.document?.documentElement;
export const locale = root?.lang || undefined;
const timeZone = root?.dataset.timeZone || undefined;

export function formatNumber(value, options) {
  return Number(value).toLocaleString(locale, options);
}

export function formatDate(value, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  const date = value instanceof Date ? value : new Date(value);
  try {
    return date.toLocaleString(locale, { timeZone, ...options });
  } catch {
    return date.toLocaleString(locale, options); // a zone this browser does not know
  }
}
