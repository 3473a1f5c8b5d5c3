// One message's article: built once, then brought up to date from its record (text, reasoning,
// refusal, tool calls, citations, token probabilities, status and usage). Model text goes
// through the Markdown sanitizer, everything else through textContent.
import { h } from './dom.js';
import { renderMarkdown } from './markdown.js';
import { formatBytes, KIND_LABELS } from './attachments.js';
import { renderToolCalls } from './toolcalls.js';
import { renderCitations } from './citations.js';
import { buildTokenView, syncTokenView } from './tokens.js';

// What the buttons under each message say: `text` is shown, `name` is what a screen reader
// hears (it starts with the shown text, as speech input expects).
const LABELS = {
  copyAnswer: { text: 'Copy', name: 'Copy answer', title: 'Copy the answer as Markdown' },
  copyMessage: { text: 'Copy', name: 'Copy message', title: 'Copy your message' },
  edit: { text: 'Edit', name: 'Edit message', title: 'Change your message and get a new answer' },
  regenerate: { text: 'Regenerate', name: 'Regenerate answer', title: 'Ask the model for another answer' },
  continue: { text: 'Continue', name: 'Continue the answer', title: 'The answer hit its length limit: ask for the rest' },
  tokens: { text: 'Token probabilities', name: 'Token probabilities', title: 'Show how sure the model was of each token' },
  model: 'Model:',
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
  if (d.status === 'stopped') return 'Stopped';
  if (d.status === 'error') return `Error: ${d.error || 'the answer failed'}`;
  if (d.status === 'interrupted') return `Interrupted: ${d.error || 'the server stopped while answering.'}`;
  if (d.status === 'complete' && d.finish_reason === 'length') return 'Cut off (length)';
  if (d.status === 'complete' && d.finish_reason === 'content_filter') {
    return d.text ? 'Cut off (content filter)' : "Blocked by the provider's content filter";
  }
  if (d.refusal) return 'Refused';
  return '';
}

const seconds = (ms) => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

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
      let usage = `${about}${d.prompt_tokens ?? '?'} prompt + ${d.completion_tokens ?? '?'} completion tokens`;
      const details = [];
      if (d.cached_tokens) details.push(`${d.cached_tokens} cached`);
      if (d.reasoning_tokens) details.push(`${d.reasoning_tokens} reasoning`);
      if (details.length) usage += ` (${details.join(', ')})`;
      if (d.usage_estimated) usage += ' (estimated: the provider sent no counts)';
      parts.push(h('span', { class: 'meta-usage', text: usage }));
    }
    const timing = [];
    if (d.first_token_ms != null) timing.push(`first token ${seconds(d.first_token_ms)}`);
    if (d.duration_ms != null) timing.push(`total ${seconds(d.duration_ms)}`);
    if (timing.length) parts.push(h('span', { class: 'meta-timing', text: timing.join(', ') }));
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
  badge.textContent = check === 'valid' ? 'Valid JSON, as asked' : check;
}

// The model's reasoning: plain text in a collapsible block above the answer, never Markdown.
function renderThinking(m) {
  m.thinking.hidden = !m.reasoning;
  if (!m.reasoning) return;
  const tokens = m.data.reasoning_tokens;
  let label = 'Thinking…';
  if (m.status !== 'streaming' || m.text) label = tokens ? `Thought for ${tokens} tokens` : 'Thought';
  m.thinking.querySelector('summary').textContent = label;
  m.thinking.querySelector('.thinking-body').textContent = m.reasoning;
}

// Images as thumbnails; other files as a chip (name, kind, size) that downloads them, audio
// with a player above it.
function attachmentView(a) {
  if ((a.kind || 'image') === 'image') {
    return h('a', { href: a.url, target: '_blank', rel: 'noopener' },
      h('img', { class: 'attachment-thumb', src: a.url, alt: a.name || 'Attached image', width: a.width, height: a.height, loading: 'lazy' }));
  }
  const chip = h('a', { class: 'attachment-chip', href: a.url, download: a.name || '', 'data-kind': a.kind },
    h('span', { class: 'attachment-name', text: a.name || 'File' }),
    h('span', { class: 'attachment-info', text: `${KIND_LABELS[a.kind] || 'File'} · ${formatBytes(a.size_bytes || 0)}` }));
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
  if (statusLabel(m.data).startsWith('Cut off')) el.classList.add('msg--length');
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
    ? h('details', { class: 'thinking', hidden: true }, h('summary', { text: 'Thinking…' }), h('div', { class: 'thinking-body' }))
    : '';
  m.refusalBox = m.role === 'assistant'
    ? h('div', { class: 'refusal', hidden: true }, h('strong', { text: 'The model declined: ' }), h('span', { class: 'refusal-text' }))
    : '';
  m.tokenView = m.role === 'assistant' ? buildTokenView() : '';
  m.citationsBox = m.role === 'assistant'
    ? h('nav', { class: 'citations', 'aria-label': 'Sources', hidden: true }, h('p', { class: 'citations-label', text: 'Sources' }), h('ol'))
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
