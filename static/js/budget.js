// Under the composer: what is left of the user's budgets (docs/websocket.md `budget` frames),
// e.g. "You: tokens today 1,200 of 50,000 left".

import { gettext, formatDate, formatNumber } from './i18n.js';

const number = (text) => {
  const value = Number(text);
  return Number.isFinite(value) ? formatNumber(value, { maximumFractionDigits: 2 }) : text;
};

// entries: [{label, left, limit, resets}], from the page's config and then each `budget` frame.
export function showBudget(el, entries) {
  const shown = (entries || []).map((e) => {
    const resets = new Date(e.resets);
    const title = Number.isNaN(resets.getTime()) ? e.label : gettext('%(label)s (resets %(when)s)', { label: e.label, when: formatDate(resets) });
    const text = gettext('%(label)s: %(left)s of %(limit)s left', { label: e.label, left: number(e.left), limit: number(e.limit) });
    return { text, title, low: Number(e.left) <= 0.1 * Number(e.limit) };
  });
  el.replaceChildren(...shown.map((s) => {
    const item = document.createElement('span');
    item.className = s.low ? 'budget-item budget-item--low' : 'budget-item';
    item.textContent = s.text;
    item.title = s.title;
    return item;
  }));
  el.hidden = shown.length === 0;
}
