// The composer: the message box (Enter sends, Shift+Enter starts a new line), the files
// attached to it, Send and Stop. A sent message the server refuses comes back here.
import { AttachmentTray, acceptDroppedAndPastedFiles } from './attachments.js';
import { gettext } from './i18n.js';

// As long as a real conversation id: a frame measured with it has the real frame's size.
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export class Composer {
  // els: {form, input, send, stop, attach (button), attachInput}; protocol: the ChatProtocol;
  // currentModel() → the picked model's id, which a new chat's first send names; onSent(id)
  // after a send to an existing conversation.
  constructor(els, { tray, protocol, messages, conversationId, currentModel, showError, hideError, onSent, onChange }) {
    Object.assign(this, { els, tray, protocol, messages, conversationId, currentModel, showError, hideError, onSent, onChange });
    this.sending = false;
    this.composing = false;
    // An IME (Japanese, Chinese…) confirms its composition with Enter: that Enter is not a send.
    // Chromium marks its keydown isComposing; Safari sends compositionend first and then a
    // keydown whose keyCode is 229 ("being processed by an IME").
    els.input.addEventListener('compositionstart', () => { this.composing = true; });
    els.input.addEventListener('compositionend', () => { this.composing = false; });
    els.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    els.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !this.composing && e.keyCode !== 229) {
        e.preventDefault();
        this.send();
      }
    });
    els.input.addEventListener('input', () => this.autosize());
    els.stop.addEventListener('click', () => protocol.send({ type: 'stop', conversation: conversationId() }));
    els.attach.addEventListener('click', () => els.attachInput.click());
    els.attachInput.accept = tray.accept;
    els.attachInput.addEventListener('change', () => {
      tray.add([...els.attachInput.files]);
      els.attachInput.value = ''; // so picking the same file again fires `change`
    });
    acceptDroppedAndPastedFiles((files) => tray.add(files));
  }

  autosize() {
    const input = this.els.input;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, window.innerHeight * 0.4)}px`;
  }

  // Nothing typed and nothing attached.
  get isEmpty() {
    return !this.els.input.value.trim() && this.tray.isEmpty;
  }

  // Send and Stop, as the streaming state says.
  sync(streaming) {
    this.els.send.hidden = streaming;
    this.els.stop.hidden = !streaming;
    this.els.send.disabled = this.sending || this.tray.uploading;
  }

  async send() {
    const { input } = this.els;
    const text = input.value.trim();
    if (this.sending || this.messages.isStreaming) return;
    if (this.tray.uploading) return this.showError(gettext('Wait for the files to finish uploading.'));
    if (this.tray.blockedReason) return this.showError(gettext('%(reason)s: pick another model or remove it.', { reason: this.tray.blockedReason }));
    const attachments = this.tray.readyIds;
    if (!text && !attachments.length) return;
    const refusal = this.protocol.refusal({ type: 'send', conversation: this.conversationId() || ZERO_UUID, text, attachments });
    if (refusal) return this.showError(refusal);
    if (!this.protocol.isOpen) return this.showError(gettext('Not connected to the server. Reconnecting…'));
    this.sending = true;
    this.onChange();
    try {
      const conversation = this.conversationId();
      // A new chat is made by its first send, in the same frame (the server answers `created`).
      const frame = conversation
        ? { type: 'send', conversation, text, attachments }
        : { type: 'send', text, attachments, model: this.currentModel() || null, ref: this.protocol.newRef() };
      const keep = () => ({ text: input.value, items: this.tray.take() });
      if (!this.protocol.sendMessage(frame, keep)) return;
      input.value = '';
      this.autosize();
      this.hideError();
      if (conversation) this.onSent(conversation);
    } catch (err) {
      this.showError(err.message);
    } finally {
      this.sending = false;
      this.onChange();
    }
  }

  // The server took the message: the files' previews are no longer needed.
  accepted({ items }) {
    AttachmentTray.release(items);
  }

  // The server refused it: put it back, unless the user has started a new one.
  restore({ text, items }) {
    if (!this.isEmpty) return AttachmentTray.release(items);
    this.els.input.value = text;
    this.autosize();
    this.tray.restore(items);
  }
}
