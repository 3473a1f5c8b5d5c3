// The token view: an alternative view of an answer as its tokens, each tinted by how sure the
// model was, with its probability and the top alternatives in a popup on hover, focus or tap.
// Built with textContent only (the tokens are model text), and append-only while streaming.
import { gettext } from './i18n.js';

const AMBER = 0.5; // below this probability a token is tinted amber…
const RED = 0.2; // …and below this, red

const percent = (logprob) => {
  const p = Math.exp(logprob) * 100;
  return p >= 99.95 ? '100 %' : p < 0.05 ? '< 0.1 %' : `${p.toFixed(1)} %`;
};
// Whitespace and newlines are tokens too: show them quoted and escaped in the popup.
const quoted = (token) => JSON.stringify(token);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function buildTokenView() {
  const legend = el('p', 'token-legend');
  legend.append(
    gettext('Hover or tap a token for its probability and alternatives.') + ' ',
    el('span', 'tok tok--amber', `p < ${AMBER}`), ' ',
    el('span', 'tok tok--red', `p < ${RED}`),
  );
  const view = el('div', 'token-view');
  view.hidden = true;
  view.append(legend, el('div', 'token-text'));
  view.shown = 0; // tokens rendered so far
  const open = (span) => showPopup(view, span);
  view.addEventListener('mouseover', (e) => {
    const span = e.target.closest('.token-text .tok');
    if (span) open(span);
  });
  view.addEventListener('mouseleave', () => {
    if (!view.contains(document.activeElement)) closePopup(view);
  });
  // A tap focuses the token (it is focusable), which also serves keyboards.
  view.addEventListener('focusin', (e) => {
    const span = e.target.closest('.token-text .tok');
    if (span) open(span);
  });
  view.addEventListener('click', (e) => {
    const span = e.target.closest('.token-text .tok');
    if (span) open(span);
  });
  view.addEventListener('focusout', (e) => {
    if (!view.contains(e.relatedTarget)) closePopup(view);
  });
  view.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closePopup(view);
  });
  return view;
}

function tokenSpan([token, logprob]) {
  const span = el('span', 'tok', token);
  span.tabIndex = 0;
  const p = Math.exp(logprob);
  if (p < RED) span.classList.add('tok--red');
  else if (p < AMBER) span.classList.add('tok--amber');
  return span;
}

// Append the tokens not yet shown (the hot path while streaming: no re-render).
export function syncTokenView(view, logprobs) {
  const text = view.querySelector('.token-text');
  view.logprobs = logprobs;
  if (logprobs.length < view.shown) {
    // A different answer (a resync that went back): start again.
    text.replaceChildren();
    view.shown = 0;
  }
  if (logprobs.length === view.shown) return;
  const more = document.createDocumentFragment();
  for (let i = view.shown; i < logprobs.length; i += 1) {
    const span = tokenSpan(logprobs[i]);
    span.dataset.index = String(i);
    more.append(span);
  }
  text.append(more);
  view.shown = logprobs.length;
}

function showPopup(view, span) {
  const entry = view.logprobs?.[Number(span.dataset.index)];
  if (!entry || span.querySelector('.tok-popup')) return;
  closePopup(view);
  const [token, logprob, alternatives] = entry;
  const popup = el('span', 'tok-popup');
  popup.setAttribute('role', 'tooltip');
  popup.append(el('span', 'tok-chosen', `${quoted(token)} ${percent(logprob)}`));
  const others = (alternatives || []).filter(([alt]) => alt !== token);
  if (others.length) {
    const list = el('span', 'tok-alternatives');
    for (const [alt, altLogprob] of others) list.append(el('span', 'tok-alternative', `${quoted(alt)} ${percent(altLogprob)}`));
    popup.append(list);
  } else {
    popup.append(el('span', 'tok-alternative', gettext('No alternatives sent')));
  }
  span.append(popup);
  // Near the bottom of the message list (the last answer, usually) it would be cut off: open upwards.
  const list = span.closest('.messages')?.getBoundingClientRect();
  const box = popup.getBoundingClientRect();
  if (list && box.bottom > list.bottom && span.getBoundingClientRect().top - box.height >= list.top) {
    popup.classList.add('tok-popup--above');
  }
}

function closePopup(view) {
  for (const popup of view.querySelectorAll('.tok-popup')) popup.remove();
}
