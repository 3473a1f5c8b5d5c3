// One message's article: built once, then brought up to date from its record (text, reasoning,
// refusal, tool calls, citations, token probabilities, status and usage). Model text goes
// through the Markdown sanitizer, everything else through textContent.
import { h } from './dom.js';
import { gettext, ngettext, formatNumber } from './i18n.js';
import { renderMarkdown } from './markdown.js';
import { formatBytes, KIND_LABELS } from './attachments.js';
import { renderToolCalls } from './toolcalls.js';
import { renderCitations } from './citations.js';
import { buildTokenView, syncTokenView } from './tokens.js';

// What the buttons under each message say: `text` is shown, `name` is what a screen reader
// hears (it starts with the shown text, as speech input expects).
const LABELS = {
  copyAnswer: { text: gettext('Copy'), name: gettext('Copy answer'), title: gettext('Copy the answer as Markdown') },
  copyMessage: { text: gettext('Copy'), name: gettext('Copy message'), title: gettext('Copy your message') },
  edit: { text: gettext('Edit'), name: gettext('Edit message'), title: gettext('Change your message and get a new answer') },
  regenerate: { text: gettext('Regenerate'), name: gettext('Regenerate answer'), title: gettext('Ask the model for another answer') },
  continue: { text: gettext('Continue'), name: gettext('Continue the answer'), title: gettext('The answer hit its length limit: ask for the rest') },
  tokens: { text: gettext('Token probabilities'), name: gettext('Token probabilities'), title: gettext('Show how sure the model was of each token') },
  model: gettext('Model:'),
};

const SVG = 'http://www.w3.org/2000/svg';
// Outline icons drawn with one path each (24 × 24, stroked in the text colour).
const ICONS = {
  copy: 'M9 9h11v11H9z M5 15H4V4h11v1',
  edit: 'M4 20h4L19 9l-4-4L4 16z M13.5 6.5l4 4',
  regenerate: 'M20 12a8 8 0 1 1-2.34-5.66 M20 4v5h-5',
  continue: 'M5 12h13 M13 6l6 6-6 6',
  tokens: 'M5 20V11 M12 20V4 M19 20v-6',
};

function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

// A message's button: an icon and a short word, always shown (not only on hover).
function actionButton(className, label, iconName, extra = {}) {
  return h('button', { type: 'button', class: `message-action ${className}`, 'aria-label': label.name, title: label.title, ...extra },
    icon(iconName), h('span', { class: 'action-label', text: label.text }));
}

function statusLabel(d) {
  if (d.status === 'stopped') return gettext('Stopped');
  if (d.status === 'error') return gettext('Error: %(error)s', { error: d.error || gettext('the answer failed') });
  if (d.status === 'interrupted') return gettext('Interrupted: %(error)s', { error: d.error || gettext('the server stopped while answering.') });
  if (cutOff(d)) return gettext('Cut off (length)');
  if (d.status === 'complete' && d.finish_reason === 'content_filter') {
    return d.text ? gettext('Cut off (content filter)') : gettext("Blocked by the provider's content filter");
  }
  if (d.refusal) return gettext('Refused');
  return '';
}

const cutOff = (d) => d.status === 'complete' && d.finish_reason === 'length';

const seconds = (ms) => (ms < 1000 ? gettext('%(ms)s ms', { ms: formatNumber(ms) })
  : gettext('%(seconds)s s', { seconds: formatNumber(ms / 1000, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) }));

function renderMeta(m) {
  const d = m.data;
  const parts = [];
  // A message names its model as sent upstream (not a picker id): it may since be renamed or gone.
  if (d.model) parts.push(h('span', { class: 'visually-hidden', text: LABELS.model }), h('span', { class: 'meta-model', text: d.model }));
  const status = m.status === 'streaming' ? '' : statusLabel(d);
  if (status) parts.push(h('span', { class: 'meta-status', text: status }));
  if (m.status !== 'streaming') {
    if (d.prompt_tokens != null || d.completion_tokens != null) {
      const about = d.usage_estimated ? '≈ ' : '';
      const count = (n) => (n == null ? '?' : formatNumber(n));
      let usage = about + gettext('%(prompt)s prompt + %(completion)s completion tokens', { prompt: count(d.prompt_tokens), completion: count(d.completion_tokens) });
      const details = [];
      if (d.cached_tokens) details.push(gettext('%(count)s cached', { count: count(d.cached_tokens) }));
      if (d.reasoning_tokens) details.push(gettext('%(count)s reasoning', { count: count(d.reasoning_tokens) }));
      if (details.length) usage += gettext(' (%(details)s)', { details: details.join(gettext(', ')) });
      if (d.usage_estimated) usage += gettext(' (estimated: the provider sent no counts)');
      parts.push(h('span', { class: 'meta-usage', text: usage }));
    }
    const timing = [];
    if (d.first_token_ms != null) timing.push(gettext('first token %(time)s', { time: seconds(d.first_token_ms) }));
    if (d.duration_ms != null) timing.push(gettext('total %(time)s', { time: seconds(d.duration_ms) }));
    if (timing.length) parts.push(h('span', { class: 'meta-timing', text: timing.join(gettext(', ')) }));
  }
  m.el.querySelector('.message-meta').replaceChildren(...parts);
}

// The part that changes while an answer streams: rendered once per animation frame.
export function renderBody(m) {
  if (m.editing) return;
  if (m.role === 'assistant') {
    renderThinking(m);
    // The token view replaces the Markdown while it is open: append its new tokens only.
    if (m.tokenView.hidden) m.body.replaceChildren(...answerParts(m));
    else syncTokenView(m.tokenView, m.logprobs);
    renderCitations(m.citationsBox, m.citations);
    renderJsonCheck(m);
    // A refusal is the model's own words, shown as such and as plain text.
    m.refusalBox.hidden = !m.refusal;
    m.refusalBox.querySelector('.refusal-text').textContent = m.refusal;
  } else m.body.textContent = m.text;
}

// The answer's text with each round of tool calls where the model made it: the text written
// before the calls, the calls, the text after. A round still streaming goes at the end.
function answerParts(m) {
  if (!m.toolCalls.length) return [renderMarkdown(structuredText(m))];
  const rounds = new Map();
  for (const call of m.toolCalls) {
    if (!rounds.has(call.round)) rounds.set(call.round, []);
    rounds.get(call.round).push(call);
  }
  m.roundBoxes ??= new Map();
  const parts = [];
  let done = 0;
  for (const [round, calls] of [...rounds].sort((a, b) => a[0] - b[0])) {
    const at = calls[0].status === 'streaming' ? m.text.length : Math.max(done, Math.min(calls[0].at, m.text.length));
    if (m.text.slice(done, at).trim()) parts.push(renderMarkdown(m.text.slice(done, at)));
    done = at;
    // Kept from frame to frame, so a block someone opened stays open.
    if (!m.roundBoxes.has(round)) m.roundBoxes.set(round, h('div', { class: 'tool-calls' }));
    const box = m.roundBoxes.get(round);
    renderToolCalls(box, calls);
    parts.push(box);
  }
  if (m.text.slice(done).trim()) parts.push(renderMarkdown(m.text.slice(done)));
  return parts;
}

// An answer asked for as JSON, once checked by the server: pretty-printed in a code block.
function structuredText(m) {
  if (!m.data.json_check || m.status === 'streaming') return m.text;
  try {
    return '```json\n' + JSON.stringify(JSON.parse(m.text), null, 2) + '\n```';
  } catch {
    return m.text;
  }
}

function renderJsonCheck(m) {
  const check = m.data.json_check;
  let badge = m.el.querySelector('.json-check');
  if (!check || m.status === 'streaming') {
    badge?.remove();
    return;
  }
  if (!badge) {
    badge = h('p', { class: 'json-check' });
    m.body.after(badge);
  }
  badge.classList.toggle('json-check--bad', check !== 'valid');
  badge.textContent = check === 'valid' ? gettext('Valid JSON, as asked') : check;
}

// The model's reasoning: plain text in a collapsible block above the answer, never Markdown.
function renderThinking(m) {
  m.thinking.hidden = !m.reasoning;
  if (!m.reasoning) return;
  const tokens = m.data.reasoning_tokens;
  let label = gettext('Thinking…');
  if (m.status !== 'streaming' || m.text) {
    label = tokens ? ngettext('Thought for %(count)s token', 'Thought for %(count)s tokens', tokens, { count: formatNumber(tokens) }) : gettext('Thought');
  }
  m.thinking.querySelector('summary').textContent = label;
  m.thinking.querySelector('.thinking-body').textContent = m.reasoning;
}

// Images as thumbnails; other files as a chip (name, kind, size) that downloads them, audio
// with a player above it.
function attachmentView(a) {
  if ((a.kind || 'image') === 'image') {
    return h('a', { href: a.url, target: '_blank', rel: 'noopener' },
      h('img', { class: 'attachment-thumb', src: a.url, alt: a.name || gettext('Attached image'), width: a.width, height: a.height, loading: 'lazy' }));
  }
  const chip = h('a', { class: 'attachment-chip', href: a.url, download: a.name || '', 'data-kind': a.kind },
    h('span', { class: 'attachment-name', text: a.name || gettext('File') }),
    h('span', { class: 'attachment-info', text: `${KIND_LABELS[a.kind] || gettext('File')} · ${formatBytes(a.size_bytes || 0)}` }));
  if (a.kind !== 'audio') return chip;
  return h('div', { class: 'attachment-audio' }, h('audio', { controls: true, preload: 'none', src: a.url }), chip);
}

function renderAttachments(m) {
  const box = m.el.querySelector('.message-attachments');
  if (!box) return;
  const views = (m.data.attachments || [])
    // Attachment URLs are our own; refuse anything that would leave the site.
    .filter((a) => new URL(a.url, location.href).origin === location.origin)
    .map(attachmentView);
  box.replaceChildren(...views);
  box.hidden = views.length === 0;
}

// Everything about a message, the body included.
export function renderMessage(m) {
  const el = m.el;
  el.dataset.status = m.status;
  el.className = `message message--${m.role} msg--${m.status}`;
  // Cut off, for length or (with text) by a content filter: Continue is offered.
  const d = m.data;
  if (cutOff(d) || (d.status === 'complete' && d.finish_reason === 'content_filter' && d.text)) el.classList.add('msg--length');
  renderBody(m);
  if (m.role === 'assistant') renderMeta(m);
  else renderAttachments(m);
}

// Gives the record m its article (m.el) and the parts renderBody fills.
export function buildMessage(m) {
  const actions = m.role === 'user'
    ? [actionButton('copy-message', LABELS.copyMessage, 'copy'), actionButton('edit-button', LABELS.edit, 'edit')]
    : [actionButton('copy-message', LABELS.copyAnswer, 'copy'),
      actionButton('regenerate-button', LABELS.regenerate, 'regenerate'),
      actionButton('continue-button', LABELS.continue, 'continue'),
      actionButton('tokens-button', LABELS.tokens, 'tokens', { 'aria-pressed': 'false' })];
  m.body = h('div', { class: 'message-body' });
  m.thinking = m.role === 'assistant'
    ? h('details', { class: 'thinking', hidden: true }, h('summary', { text: gettext('Thinking…') }), h('div', { class: 'thinking-body' }))
    : '';
  m.refusalBox = m.role === 'assistant'
    ? h('div', { class: 'refusal', hidden: true }, h('strong', { text: gettext('The model declined: ') }), h('span', { class: 'refusal-text' }))
    : '';
  m.tokenView = m.role === 'assistant' ? buildTokenView() : '';
  m.citationsBox = m.role === 'assistant'
    ? h('nav', { class: 'citations', 'aria-label': gettext('Sources'), hidden: true }, h('p', { class: 'citations-label', text: gettext('Sources') }), h('ol'))
    : '';
  m.el = h('article', { 'data-message-id': m.id, 'data-role': m.role },
    m.thinking,
    m.body,
    m.tokenView,
    m.refusalBox,
    m.citationsBox,
    m.role === 'user' ? h('div', { class: 'message-attachments' }) : '',
    h('div', { class: 'message-footer' }, h('div', { class: 'message-actions' }, ...actions), h('div', { class: 'message-meta' })));
}
