// The buttons under the messages and on code blocks: Copy, Edit (in place), Continue,
// Regenerate and the token view; and which of them each message offers right now.
import { h } from './dom.js';
import { gettext } from './i18n.js';
import { copyText } from './markdown.js';
import { renderBody } from './message-view.js';

// send(frame) → whether it went (it says why not); conversationId() → the shown conversation's;
// onChange() after a change that moves controls; announcer says a copy worked to screen readers.
export function messageActions(messages, { send, conversationId, onChange, announcer }) {
  const copied = async (button, text) => {
    const ok = await copyText(text);
    flash(button, ok ? announcer.text('copied') : announcer.text('copyFailed'));
    announcer.say(ok ? announcer.text('copied') : announcer.text('copyFailed'));
  };
  messages.scroller.addEventListener('click', async (e) => {
    const button = e.target.closest('button');
    const el = e.target.closest('.message');
    if (!button || !el) return;
    const m = messages.get(el.dataset.messageId);
    if (button.classList.contains('copy-code')) {
      await copied(button, button.closest('.code-block').querySelector('code').textContent);
    } else if (button.classList.contains('copy-message')) {
      await copied(button, m.text);
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
  const area = h('textarea', { class: 'edit-input', rows: 3, 'aria-label': gettext('Edit message') });
  area.value = m.text;
  const cancel = h('button', { type: 'button', class: 'edit-cancel', text: gettext('Cancel') });
  const save = h('button', { type: 'button', class: 'edit-save primary', text: gettext('Save') });
  const box = h('div', { class: 'message-edit' }, area, h('div', { class: 'edit-actions' }, cancel, save));
  const finish = () => {
    m.editing = false;
    const focused = box.contains(document.activeElement);
    box.remove();
    m.body.hidden = false;
    renderBody(m);
    onChange();
    // A keyboard user stays where they were, not at the top of the page.
    if (focused) m.el.querySelector('.edit-button:not([hidden])')?.focus();
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
    if (e.key === 'Escape') {
      e.preventDefault(); // handled: the page's Escape (stop the answer) leaves it alone
      finish();
    }
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

// The button's word says what happened for a moment (its icon stays).
function flash(button, text) {
  const label = button.querySelector('.action-label') || button;
  const original = label.textContent;
  label.textContent = text;
  setTimeout(() => {
    label.textContent = original;
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
