// The chat page: shows one conversation, streams answers over the websocket described in
// docs/websocket.md, and drives the sidebar, the model picker and the composer.
import { renderMarkdown, copyText } from './js/markdown.js';
import { postJSON, ReconnectingSocket } from './js/net.js';
import { AttachmentTray, acceptDroppedAndPastedFiles, formatBytes, KIND_LABELS } from './js/attachments.js';
import { settingsPanel } from './js/settings.js';
import { renderToolCalls } from './js/toolcalls.js';
import { renderCitations } from './js/citations.js';
import { buildTokenView, syncTokenView } from './js/tokens.js';

const config = JSON.parse(document.getElementById('chat-config').textContent);
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const $ = (id) => document.getElementById(id);
const els = {
  list: $('conversation-list'),
  title: $('conversation-title'),
  select: $('model-select'),
  banner: $('error-banner'),
  connection: $('connection-status'),
  scroller: $('messages'),
  empty: $('empty-state'),
  composer: $('composer'),
  input: $('composer-input'),
  send: $('send-button'),
  stop: $('stop-button'),
  attach: $('attach-input'),
  usage: $('context-usage'),
};

const state = {
  conversation: config.conversation, // {id, title, model, updated} or null for a new chat
  messages: new Map(), // id → {id, role, text, citations, logprobs, seq, status, data, el, body, editing}
  dirty: new Set(), // messages whose body waits for the next animation frame
  frame: 0,
  resyncAsked: false,
  sending: false,
  pending: null, // the last `send`, kept until its user message comes back, to restore on refusal
  heardSinceOpen: false,
};

// URLs come from Django's reversed templates with a zero UUID (see chat.html).
const urlFor = (kind, id) => els.list.dataset[`${kind}Url`].replace(ZERO_UUID, id);
const isStreaming = () => [...state.messages.values()].some((m) => m.status === 'streaming');

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (value !== null && value !== undefined && value !== false) el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children);
  return el;
}

/* ---------- errors and connection ---------- */

function showError(text) {
  els.banner.querySelector('.error-text').textContent = text;
  els.banner.hidden = false;
}
const hideError = () => {
  els.banner.hidden = true;
};
els.banner.querySelector('.error-close').addEventListener('click', hideError);

/* ---------- messages ---------- */

const isPinned = () => {
  const s = els.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
};
const scrollToBottom = () => {
  els.scroller.scrollTop = els.scroller.scrollHeight;
};
// Follow new text only when the reader was already at the bottom, not while they read back.
function keepPinned(change) {
  const pinned = isPinned();
  change();
  if (pinned) scrollToBottom();
}

function statusLabel(d) {
  if (d.status === 'stopped') return 'Stopped';
  if (d.status === 'error') return `Error: ${d.error || 'the answer failed'}`;
  if (d.status === 'interrupted') return 'Interrupted — the server stopped while answering';
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
  if (d.model) parts.push(h('span', { class: 'meta-model', text: d.model }));
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

function renderBody(m) {
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

// Everything about a message except the streaming text hot path.
function renderMessage(m) {
  const el = m.el;
  el.dataset.status = m.status;
  el.className = `message message--${m.role} msg--${m.status}`;
  if (statusLabel(m.data).startsWith('Cut off')) el.classList.add('msg--length');
  state.dirty.delete(m);
  renderBody(m);
  if (m.role === 'assistant') renderMeta(m);
  else renderAttachments(m);
}

function buildMessage(m) {
  const actions = m.role === 'user'
    ? [h('button', { type: 'button', class: 'edit-button', text: 'Edit' })]
    : [h('button', { type: 'button', class: 'copy-message', text: 'Copy' }),
      h('button', { type: 'button', class: 'tokens-button', text: 'Token probabilities', 'aria-pressed': 'false', title: 'Show how sure the model was of each token' }),
      h('button', { type: 'button', class: 'continue-button', text: 'Continue', title: 'The answer hit its length limit: ask for the rest' }),
      h('button', { type: 'button', class: 'regenerate-button', text: 'Regenerate' })];
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
    h('div', { class: 'message-footer' }, h('div', { class: 'message-meta' }), h('div', { class: 'message-actions' }, ...actions)));
}

// Add a message, or bring an existing one up to date from a full message object.
function upsertMessage(data, seq = 0) {
  let m = state.messages.get(data.id);
  if (!m) {
    m = { id: data.id, role: data.role, seq, editing: false };
    buildMessage(m);
    state.messages.set(m.id, m);
    els.scroller.append(m.el);
  }
  m.data = data;
  m.status = data.status;
  m.text = data.text || '';
  m.reasoning = data.reasoning || '';
  m.refusal = data.refusal || '';
  m.toolCalls = data.tool_calls || [];
  // Copies: deltas append to these.
  m.citations = [...(data.citations || [])];
  m.logprobs = [...(data.logprobs || [])];
  renderMessage(m);
  return m;
}

// The hot path: deltas only mark the message; its body is rendered once per frame.
function scheduleBody(m) {
  state.dirty.add(m);
  if (state.frame) return;
  state.frame = requestAnimationFrame(() => {
    state.frame = 0;
    keepPinned(() => {
      for (const m of state.dirty) renderBody(m);
      state.dirty.clear();
    });
  });
}

function removeMessagesAfter(afterId) {
  const all = [...state.messages.values()];
  const start = afterId === null ? 0 : all.findIndex((m) => m.id === afterId) + 1;
  if (start === 0 && afterId !== null) return; // unknown id: nothing we can safely drop
  for (const m of all.slice(start)) {
    m.el.remove();
    state.messages.delete(m.id);
    state.dirty.delete(m);
  }
}

// Buttons and composer state that depend on whether an answer is streaming.
function updateControls() {
  const streaming = isStreaming();
  els.send.hidden = streaming;
  els.stop.hidden = !streaming;
  els.send.disabled = state.sending || tray.uploading;
  const all = [...state.messages.values()];
  const lastAssistant = all.filter((m) => m.role === 'assistant').pop();
  for (const m of all) {
    const regen = m.el.querySelector('.regenerate-button');
    if (regen) regen.hidden = streaming || m !== lastAssistant;
    const more = m.el.querySelector('.continue-button');
    if (more) more.hidden = streaming || m !== all[all.length - 1] || m.data.finish_reason !== 'length';
    const tokens = m.el.querySelector('.tokens-button');
    if (tokens) tokens.hidden = !m.logprobs.length;
    const copy = m.el.querySelector('.copy-message');
    if (copy) copy.hidden = m.status === 'streaming' || !m.text;
    const edit = m.el.querySelector('.edit-button');
    if (edit) edit.hidden = streaming || m.editing;
  }
  els.empty.hidden = all.length > 0;
  showContextUsage(lastAssistant);
}

const currentModel = () => config.models.find((m) => m.id === els.select.value) || null;
const count = (n) => n.toLocaleString('en-US');

// The tokens the next request carries, about: the last answer's prompt and answer (less its
// reasoning, which is not sent back), before the new question; against the context length.
function showContextUsage(answer) {
  const d = answer?.status === 'streaming' ? null : answer?.data;
  const used = !d ? 0 : d.context_tokens ?? (d.prompt_tokens ?? 0) + (d.completion_tokens ?? 0) - (d.reasoning_tokens ?? 0);
  els.usage.hidden = !used;
  if (!used) return;
  const context = currentModel()?.abilities.context_length;
  const about = d.usage_estimated ? '≈ ' : '';
  els.usage.textContent = context ? `${about}${count(used)} / ${count(context)} tokens` : `${about}${count(used)} tokens`;
  els.usage.classList.toggle('context-usage--high', Boolean(context) && used > 0.8 * context);
  els.usage.title = 'Tokens this conversation carries: the prompt and answer tokens of the last request '
    + '(without reasoning, which is not sent back), about what the next request sends before your new message'
    + (context ? `, against the model's context length of ${count(context)} tokens.` : '. The model\'s context length is not known.')
    + (d.usage_estimated ? ' Estimated: the provider sent no counts.' : '');
}

function startEdit(m) {
  m.editing = true;
  const area = h('textarea', { class: 'edit-input', rows: 3, 'aria-label': 'Edit message' });
  area.value = m.text;
  const cancel = h('button', { type: 'button', class: 'edit-cancel', text: 'Cancel' });
  const save = h('button', { type: 'button', class: 'edit-save primary', text: 'Save' });
  const box = h('div', { class: 'message-edit' }, area, h('div', { class: 'edit-actions' }, cancel, save));
  const finish = () => {
    m.editing = false;
    box.remove();
    m.body.hidden = false;
    renderBody(m);
    updateControls();
  };
  const submit = () => {
    const text = area.value.trim();
    if (!text || text === m.text) return finish();
    if (!sendFrame({ type: 'edit', conversation: state.conversation.id, message: m.id, text })) return;
    // The server keeps the message id and answers again; show the new text right away.
    m.text = text;
    m.data = { ...m.data, text };
    finish();
  };
  cancel.addEventListener('click', finish);
  save.addEventListener('click', submit);
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') finish();
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit();
  });
  m.body.hidden = true;
  m.body.after(box);
  updateControls();
  area.focus();
}

els.scroller.addEventListener('click', async (e) => {
  const button = e.target.closest('button');
  const el = e.target.closest('.message');
  if (!button || !el) return;
  const m = state.messages.get(el.dataset.messageId);
  if (button.classList.contains('copy-code')) {
    const code = button.closest('.code-block').querySelector('code');
    flash(button, (await copyText(code.textContent)) ? 'Copied' : 'Copy failed');
  } else if (button.classList.contains('copy-message')) {
    flash(button, (await copyText(m.text)) ? 'Copied' : 'Copy failed');
  } else if (button.classList.contains('continue-button')) {
    sendFrame({ type: 'continue', conversation: state.conversation.id });
  } else if (button.classList.contains('regenerate-button')) {
    sendFrame({ type: 'regenerate', conversation: state.conversation.id });
  } else if (button.classList.contains('edit-button')) {
    startEdit(m);
  } else if (button.classList.contains('tokens-button')) {
    toggleTokens(m, button);
  }
});

// Markdown (the default) or the token view of the same answer.
function toggleTokens(m, button) {
  const show = m.tokenView.hidden;
  m.tokenView.hidden = !show;
  m.body.hidden = show;
  button.setAttribute('aria-pressed', String(show));
  keepPinned(() => renderBody(m));
}

function flash(button, text) {
  const original = button.textContent;
  button.textContent = text;
  setTimeout(() => {
    button.textContent = original;
  }, 1500);
}

/* ---------- server frames ---------- */

function sendFrame(frame) {
  if (socket.send(frame)) return true;
  showError('Not connected to the server. Reconnecting…');
  return false;
}

function askResync() {
  if (state.resyncAsked) return; // one request per gap, not one per late delta
  state.resyncAsked = true;
  socket.send({ type: 'resync', conversation: state.conversation.id });
}

function onDelta(f) {
  const m = state.messages.get(f.message);
  if (!m) return askResync(); // we missed its `message` frame; the snapshot will add it
  if (m.status !== 'streaming' || f.seq <= m.seq) return;
  if (f.seq !== m.seq + 1) return askResync();
  m.seq = f.seq;
  m.text += f.text;
  if (f.reasoning) m.reasoning += f.reasoning;
  if (f.refusal) m.refusal += f.refusal;
  if (f.tool_calls?.length) {
    // The calls of one round, the one that changed: earlier rounds are final.
    const round = f.tool_calls[0].round;
    m.toolCalls = [...m.toolCalls.filter((c) => c.round !== round), ...f.tool_calls];
  }
  if (f.citations) m.citations.push(...f.citations);
  if (f.logprobs) m.logprobs.push(...f.logprobs);
  scheduleBody(m);
}

function onSnapshot(f) {
  state.resyncAsked = false;
  const m = state.messages.get(f.message.id);
  if (m && f.seq < m.seq) return;
  keepPinned(() => {
    upsertMessage(f.message).seq = f.seq;
  });
}

function onMessage(data) {
  // A repeated `message` frame for an answer already streaming must not wipe its text.
  const known = state.messages.get(data.id);
  if (known?.status === 'streaming' && data.status === 'streaming') return;
  // A finished answer streaming again (Continue): its deltas count from 1 anew.
  if (known && data.status === 'streaming') known.seq = 0;
  const ours = data.role === 'user' && state.pending;
  if (ours) {
    AttachmentTray.release(state.pending.items);
    state.pending = null;
  }
  keepPinned(() => upsertMessage(data));
  if (ours) scrollToBottom();
}

function onFrame(f) {
  if (f.type === 'error') return onErrorFrame(f);
  if (f.type === 'conversation') return updateConversation(f.conversation);
  if (!state.conversation || f.conversation !== state.conversation.id) return;
  if (['delta', 'snapshot', 'done'].includes(f.type)) state.heardSinceOpen = true;
  if (f.type === 'message') onMessage(f.message);
  else if (f.type === 'delta') onDelta(f);
  else if (f.type === 'snapshot') onSnapshot(f);
  else if (f.type === 'done') {
    state.resyncAsked = false;
    keepPinned(() => upsertMessage(f.message)); // carries the final full text
  } else if (f.type === 'truncated') removeMessagesAfter(f.after);
  updateControls();
}

function onErrorFrame(f) {
  showError(f.error || 'The server refused that.');
  restorePending();
  state.resyncAsked = false;
}

// Put a refused message back into the composer, unless the user has started a new one.
function restorePending() {
  if (!state.pending) return;
  const { text, items } = state.pending;
  state.pending = null;
  if (els.input.value.trim() || !tray.isEmpty) return AttachmentTray.release(items);
  els.input.value = text;
  autosize();
  tray.restore(items);
}

function onOpen(reconnected) {
  els.connection.hidden = true;
  state.resyncAsked = false;
  state.heardSinceOpen = false;
  if (!state.conversation) return;
  socket.send({ type: 'subscribe', conversation: state.conversation.id });
  // The server answers a subscribe with a snapshot only while an answer streams. If we
  // still show one streaming after a drop and hear nothing, it ended while we were away.
  if (reconnected && isStreaming()) {
    setTimeout(() => {
      if (state.heardSinceOpen || !isStreaming() || !socket.isOpen) return;
      if (!els.input.value.trim() && tray.isEmpty) location.reload();
      else showError('The answer ended while the connection was down. Reload the page to see it.');
    }, 5000);
  }
}

function onClose(code) {
  els.connection.hidden = false;
  if (code === 1009) showError('That message is too large to send.');
  restorePending();
}

/* ---------- conversations: sidebar, header, model ---------- */

const itemFor = (id) => els.list.querySelector(`.conversation-item[data-conversation-id="${CSS.escape(id)}"]`);

function decorateItem(li) {
  li.append(
    h('span', { class: 'conversation-actions' },
      h('button', { type: 'button', class: 'rename-button', 'data-action': 'rename', text: 'Rename', 'aria-label': 'Rename conversation' }),
      h('button', { type: 'button', class: 'delete-button', 'data-action': 'delete', text: 'Delete', 'aria-label': 'Delete conversation' })),
  );
}

function addSidebarItem(conv) {
  const link = h('a', { class: 'conversation-link', href: urlFor('conversation', conv.id) },
    h('span', { class: 'conversation-title', text: conv.title || 'New chat' }));
  const li = h('li', { class: 'conversation-item', 'data-conversation-id': conv.id }, link);
  decorateItem(li);
  els.list.prepend(li);
  return li;
}

function markCurrent(li) {
  for (const other of els.list.querySelectorAll('.conversation-item.is-current')) {
    other.classList.remove('is-current');
    other.querySelector('a').removeAttribute('aria-current');
  }
  li.classList.add('is-current');
  li.querySelector('a').setAttribute('aria-current', 'page');
}

function showTitle() {
  const title = state.conversation?.title || 'New chat';
  els.title.textContent = title;
  document.title = `${title} · chatsite`;
}

function updateConversation(conv) {
  const li = itemFor(conv.id);
  if (li) li.querySelector('.conversation-title').textContent = conv.title || 'New chat';
  if (state.conversation?.id !== conv.id) return;
  state.conversation = { ...state.conversation, ...conv };
  showTitle();
  if (conv.model && conv.model !== els.select.value) {
    selectModel(conv.model);
    tray.recheck();
  }
}

els.list.addEventListener('click', async (e) => {
  const button = e.target.closest('button[data-action]');
  if (!button) return;
  const li = button.closest('.conversation-item');
  const id = li.dataset.conversationId;
  const current = li.querySelector('.conversation-title').textContent;
  try {
    if (button.dataset.action === 'rename') {
      const title = prompt('Rename conversation', current);
      if (title === null || !title.trim() || title.trim() === current) return;
      updateConversation(await postJSON(urlFor('rename', id), { title: title.trim() }));
    } else {
      if (!confirm(`Delete “${current}”? This cannot be undone.`)) return;
      await postJSON(urlFor('delete', id), {});
      if (state.conversation?.id === id) {
        location.href = els.list.dataset.indexUrl;
        return;
      }
      li.remove();
    }
  } catch (err) {
    showError(err.message);
  }
});

function selectModel(id) {
  if (!id) return;
  if (![...els.select.options].some((o) => o.value === id)) {
    // The conversation's model was hidden or disabled since; say so instead of showing another.
    els.select.prepend(h('option', { value: id, disabled: true, text: `${id} (unavailable)` }));
  }
  els.select.value = id;
  els.select.dataset.current = id;
}

function fillModels() {
  const groups = new Map();
  for (const model of config.models) {
    if (!groups.has(model.provider)) groups.set(model.provider, h('optgroup', { label: model.provider }));
    groups.get(model.provider).append(h('option', { value: model.id, text: model.label }));
  }
  els.select.replaceChildren(...groups.values());
  if (!config.models.length) {
    els.select.append(h('option', { value: '', text: 'No models available' }));
    els.select.disabled = true;
  }
  selectModel(state.conversation?.model || config.default_model);
}

els.select.addEventListener('change', async () => {
  const model = els.select.value;
  tray.recheck(); // says what in the tray this model cannot take
  updateControls();
  if (!state.conversation) return; // a new chat uses it when it is created
  try {
    updateConversation(await postJSON(urlFor('model', state.conversation.id), { model }));
    els.select.dataset.current = model;
  } catch (err) {
    els.select.value = els.select.dataset.current || '';
    tray.recheck();
    showError(err.message);
  }
});

/* ---------- composer ---------- */

function autosize() {
  els.input.style.height = 'auto';
  els.input.style.height = `${Math.min(els.input.scrollHeight, window.innerHeight * 0.4)}px`;
}

// A new chat exists only once its first message is sent: create it, then subscribe.
async function createConversation() {
  const conv = await postJSON(config.create_url, { model: els.select.value || null });
  state.conversation = conv;
  history.replaceState(null, '', urlFor('conversation', conv.id));
  markCurrent(addSidebarItem(conv));
  showTitle();
  socket.send({ type: 'subscribe', conversation: conv.id });
}

settingsPanel({
  dialog: document.getElementById('settings-dialog'),
  button: document.getElementById('settings-button'),
  optionsUrl: (id) => urlFor('options', id),
  currentConversation: () => state.conversation,
  ensureConversation: async () => {
    if (!state.conversation) await createConversation();
  },
  onSaved: (conv) => updateConversation(conv),
  presets: config.presets,
  presetUrl: config.preset_url,
  tools: config.tools,
  models: config.models,
  currentModel: () => els.select.value,
});

async function send() {
  const text = els.input.value.trim();
  if (state.sending || isStreaming()) return;
  if (tray.uploading) return showError('Wait for the files to finish uploading.');
  if (tray.blockedReason) return showError(`${tray.blockedReason}: pick another model or remove it.`);
  const attachments = tray.readyIds;
  if (!text && !attachments.length) return;
  if (!socket.isOpen) return showError('Not connected to the server. Reconnecting…');
  state.sending = true;
  updateControls();
  try {
    if (!state.conversation) await createConversation();
    if (!sendFrame({ type: 'send', conversation: state.conversation.id, text, attachments })) return;
    state.pending = { text: els.input.value, items: tray.take() };
    els.input.value = '';
    autosize();
    hideError();
    const li = itemFor(state.conversation.id);
    if (li) els.list.prepend(li); // most recently used first, as the server orders them
  } catch (err) {
    showError(err.message);
  } finally {
    state.sending = false;
    updateControls();
  }
}

els.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
els.input.addEventListener('keydown', (e) => {
  // isComposing: Enter also confirms an IME composition (Japanese, Chinese…).
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
els.input.addEventListener('input', autosize);
els.stop.addEventListener('click', () => sendFrame({ type: 'stop', conversation: state.conversation.id }));
$('attach-button').addEventListener('click', () => els.attach.click());
els.attach.addEventListener('change', () => {
  tray.add([...els.attach.files]);
  els.attach.value = ''; // so picking the same file again fires `change`
});

/* ---------- mobile sidebar ---------- */

const toggle = $('sidebar-toggle');
function setSidebar(open) {
  document.body.classList.toggle('sidebar-open', open);
  toggle.setAttribute('aria-expanded', String(open));
}
toggle.addEventListener('click', () => setSidebar(!document.body.classList.contains('sidebar-open')));
$('sidebar-backdrop').addEventListener('click', () => setSidebar(false));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') setSidebar(false);
});

/* ---------- start ---------- */

const tray = new AttachmentTray($('attachment-tray'), {
  uploadUrl: config.upload_url,
  maxBytes: config.max_upload_bytes,
  types: config.allowed_image_types,
  textExtensions: config.text_extensions,
  model: currentModel,
  onChange: () => updateControls(),
});
els.attach.accept = tray.accept;
acceptDroppedAndPastedFiles((files) => tray.add(files));

for (const li of els.list.querySelectorAll('.conversation-item')) decorateItem(li);
fillModels();
showTitle();
// A message still streaming when the page was rendered has an unknown seq (-1): the
// snapshot that answers our subscribe replaces its text, and deltas continue from there.
for (const data of config.messages) upsertMessage(data, data.status === 'streaming' ? -1 : 0);
updateControls();
scrollToBottom();

const socket = new ReconnectingSocket(config.ws_path, { onOpen, onFrame, onClose });
