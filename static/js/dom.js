// Building elements in a line: h('p', {class: 'note', text: words}, child…). Text goes in
// through textContent and children as nodes or text, so nothing given here is parsed as HTML.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (value !== null && value !== undefined && value !== false) el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children);
  return el;
}

// Text for an HTML string (Markdown renderers build strings): every character that could start
// markup or end an attribute value is escaped.
export const escapeHTML = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
