// The sidebar's search box: the user's own conversations and messages matching what is typed
// (GET /search/, chatsite/search), newest first, each opening its conversation at the message.
// What the server found arrives as pieces of text: each goes into a text node and the matched
// words into <mark>, so nothing a user or a model wrote is ever parsed as HTML.
import { h } from './dom.js';
import { gettext, ngettext } from './i18n.js';
import { getJSON } from './net.js';

const DELAY_MS = 200; // typing pauses this long before a search goes out

const pieces = (parts) => parts.map(([text, matched]) => (matched ? h('mark', { text }) : document.createTextNode(text)));

function resultItem(result, query) {
  const url = `${result.url}${result.url.includes('?') ? '&' : '?'}${new URLSearchParams({ q: query })}`;
  const title = h('span', { class: 'search-title' }, ...pieces(result.title.length ? result.title : [[gettext('New chat'), false]]));
  if (result.archived) title.append(h('span', { class: 'search-badge', text: gettext('Archived') }));
  const link = h('a', { href: url }, title);
  if (result.excerpt.length) link.append(h('span', { class: 'search-excerpt' }, ...pieces(result.excerpt)));
  return h('li', { class: 'search-result', 'data-conversation-id': result.conversation, 'data-message-id': result.message || '' }, link);
}

export function searchBox() {
  const form = document.getElementById('search-form');
  if (!form) return;
  const input = document.getElementById('search-input');
  const panel = document.getElementById('search-panel');
  const list = document.getElementById('search-results');
  const status = document.getElementById('search-status');
  const sidebar = form.closest('.sidebar');
  let timer = 0;
  let asked = 0; // answers to an older query are dropped

  const show = (searching) => {
    panel.hidden = !searching;
    sidebar?.classList.toggle('is-searching', searching);
  };

  const run = async () => {
    const query = input.value.trim();
    const ask = ++asked;
    if (!query) {
      list.replaceChildren();
      show(false);
      return;
    }
    show(true);
    status.textContent = gettext('Searching…');
    try {
      const { results } = await getJSON(`${form.dataset.url}?${new URLSearchParams({ q: query })}`);
      if (ask !== asked) return;
      list.replaceChildren(...results.map((r) => resultItem(r, query)));
      status.textContent = results.length
        ? ngettext('%(count)s result', '%(count)s results', results.length)
        : gettext('Nothing found.');
    } catch (err) {
      if (ask === asked) status.textContent = err.message;
    }
  };

  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(run, DELAY_MS);
  };

  // An IME's composition is not a query yet: it is searched when it ends.
  input.addEventListener('input', (e) => {
    if (!e.isComposing) later();
  });
  input.addEventListener('compositionend', later);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    list.querySelector('a')?.click();
  });

  const links = () => [...list.querySelectorAll('a')];
  sidebar?.addEventListener('keydown', (e) => {
    if (panel.hidden || e.isComposing) return;
    const all = links();
    const at = all.indexOf(document.activeElement);
    if (e.key === 'Escape' && (e.target === input || at >= 0)) {
      e.preventDefault(); // not the page's Esc (stop the answer)
      input.value = '';
      run();
      input.focus();
    } else if (e.key === 'ArrowDown' && (e.target === input || at >= 0)) {
      e.preventDefault();
      all[Math.min(at + 1, all.length - 1)]?.focus();
    } else if (e.key === 'ArrowUp' && at >= 0) {
      e.preventDefault();
      (at === 0 ? input : all[at - 1]).focus();
    }
  });
}
