// The buttons under the messages and on code blocks: Copy, Edit (in place), Continue,
// Regenerate and the token view; and which of them each message offers right now.
import { h } from './dom.js';
import { copyText } from './markdown.js';
import { renderBody } from './message-view.js';

// send(frame) → whether it went (it says why not); conversationId() → the shown conversation's;
// onChange() after a change that moves controls.
export function messageActions(messages, { send, conversationId, onChange }) {
  messages.scroller.addEventListener('click', async (e) => {
    const button = e.target.closest('button');
    const el = e.target.closest('.message');
    if (!button || !el) return;
    const m = messages.get(el.dataset.messageId);
    if (button.classList.contains('copy-code')) {
      const code = button.closest('.code-block').querySelector('code');
      flash(button, (await copyText(code.textContent)) ? 'Copied' : 'Copy failed');
    } else if (button.classList.contains('copy-message')) {
      flash(button, (await copyText(m.text)) ? 'Copied' : 'Copy failed');
    } else if (button.classList.contains('continue-button')) {
      send({ type: 'continue', conversation: conversationId() });
    } else if (button.classList.contains('regenerate-button')) {
      send({ type: 'regenerate', conversation: conversationId() });
    } else if (button.classList.contains('edit-button')) {
      startEdit(m, { send, conversationId, onChange });
    } else if (button.classList.contains('tokens-button')) {
      toggleTokens(messages, m, button);
    }
  });
}

// A user message's text becomes a textarea; Save sends an `edit`, Cancel or Escape puts it back.
function startEdit(m, { send, conversationId, onChange }) {
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
    onChange();
  };
  const submit = () => {
    const text = area.value.trim();
    if (!text || text === m.text) return finish();
    // Refused (too long, not connected): the edit stays open with its text.
    if (!send({ type: 'edit', conversation: conversationId(), message: m.id, text })) return;
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
  onChange();
  area.focus();
}

// Markdown (the default) or the token view of the same answer.
function toggleTokens(messages, m, button) {
  const show = m.tokenView.hidden;
  m.tokenView.hidden = !show;
  m.body.hidden = show;
  button.setAttribute('aria-pressed', String(show));
  messages.keepPinned(() => renderBody(m));
}

function flash(button, text) {
  const original = button.textContent;
  button.textContent = text;
  setTimeout(() => {
    button.textContent = original;
  }, 1500);
}

// Which buttons each message offers: none that starts an answer while one streams.
export function syncActions(messages, streaming) {
  const all = messages.all;
  const lastAssistant = messages.lastAssistant;
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
}
