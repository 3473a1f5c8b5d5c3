// The chat websocket's frames, both ways (docs/websocket.md). Server frames go into the message
// list in `seq` order, with one `resync` per gap; a frame the page sends is first checked
// against the server's limits, so a refusal is said here instead of the server dropping the
// socket; and a sent message is kept until the server takes it, to go back to the composer if
// it is refused or the socket drops.
import { ReconnectingSocket } from './net.js';
import { formatBytes } from './attachments.js';
import { gettext, formatNumber } from './i18n.js';

const encoder = new TextEncoder();
const NOT_CONNECTED = gettext('Not connected to the server. Reconnecting…');
// Python's len() counts code points, as this does; String.length counts UTF-16 units.
const characters = (text) => [...text].length;

export class ChatProtocol {
  // messages: the MessageList; status: the "Reconnecting…" element; conversationId() → the
  // shown conversation's id or null; onConversation(conversation) for `conversation` frames;
  // onCreated(conversation) when this tab's new chat was made; onChange() after each frame for
  // the shown conversation.
  constructor({ path, maxFrameBytes, maxMessageChars, messages, status, conversationId, showError, onConversation, onCreated, onBudget, onChange }) {
    Object.assign(this, { path, maxFrameBytes, maxMessageChars, messages, status, conversationId, showError, onConversation, onCreated, onBudget, onChange });
    this.refs = 0;
    this.awaitingRef = null; // the `ref` of this tab's new-chat send the server has not answered yet
    this.resyncAsked = false;
    this.heardSinceOpen = false;
    this.pending = null; // the last `send`, kept until its user message comes back
    this.socket = null;
  }

  // Open the socket. composer: where a sent message goes back when refused,
  // {accepted(pending), restore(pending), isEmpty}.
  connect(composer) {
    this.composer = composer;
    this.socket = new ReconnectingSocket(this.path, {
      onOpen: (reconnected) => this.onOpen(reconnected),
      onFrame: (f) => this.onFrame(f),
      onClose: (code) => this.onClose(code),
    });
  }

  get isOpen() {
    return Boolean(this.socket?.isOpen);
  }

  // Why the server would refuse this frame for its size, or null: a message over the character
  // limit (it would answer `error`) or a frame over the byte limit (it would close the socket).
  // Bytes of UTF-8, as daphne counts them, so a 4-byte emoji counts 4.
  refusal(frame, text = JSON.stringify(frame)) {
    if (typeof frame.text === 'string' && this.maxMessageChars) {
      const length = characters(frame.text);
      if (length > this.maxMessageChars) {
        return gettext('That message is too long (%(length)s characters; the limit is %(limit)s).', { length: formatNumber(length), limit: formatNumber(this.maxMessageChars) });
      }
    }
    const bytes = encoder.encode(text).length;
    if (this.maxFrameBytes && bytes > this.maxFrameBytes) {
      return gettext('That message is too long to send (%(size)s; the limit is %(limit)s).', { size: formatBytes(bytes), limit: formatBytes(this.maxFrameBytes) });
    }
    return null;
  }

  // Send a frame; when it cannot go, say why and answer false.
  send(frame) {
    const text = JSON.stringify(frame);
    const refusal = this.refusal(frame, text);
    if (refusal) {
      this.showError(refusal);
      return false;
    }
    if (this.socket?.sendText(text)) return true;
    this.showError(NOT_CONNECTED);
    return false;
  }

  // Send a `send` frame; keep() is called once it went, and gives what restore() puts back.
  sendMessage(frame, keep) {
    if (!this.send(frame)) return false;
    this.pending = keep();
    return true;
  }

  // A name for a new chat's send, which the server's `created` (or `error`) repeats.
  newRef() {
    this.refs += 1;
    this.awaitingRef = `new-${Date.now().toString(36)}-${this.refs}`;
    return this.awaitingRef;
  }

  subscribe(id) {
    this.socket.send({ type: 'subscribe', conversation: id });
  }

  askResync() {
    if (this.resyncAsked) return; // one request per gap, not one per late delta
    this.resyncAsked = true;
    this.socket.send({ type: 'resync', conversation: this.conversationId() });
  }

  onDelta(f) {
    const m = this.messages.get(f.message);
    if (!m) return this.askResync(); // we missed its `message` frame; the snapshot will add it
    if (m.status !== 'streaming' || f.seq <= m.seq) return;
    if (f.seq !== m.seq + 1) return this.askResync();
    m.seq = f.seq;
    this.messages.append(m, f);
  }

  onSnapshot(f) {
    this.resyncAsked = false;
    const m = this.messages.get(f.message.id);
    if (m && f.seq < m.seq) return;
    this.messages.keepPinned(() => {
      this.messages.upsert(f.message).seq = f.seq;
    });
  }

  onMessage(data) {
    // A repeated `message` frame for an answer already streaming must not wipe its text.
    const known = this.messages.get(data.id);
    if (known?.status === 'streaming' && data.status === 'streaming') return;
    // A finished answer streaming again (Continue): its deltas count from 1 anew.
    if (known && data.status === 'streaming') known.seq = 0;
    const ours = data.role === 'user' && this.pending;
    if (ours) {
      this.composer.accepted(this.pending);
      this.pending = null;
    }
    this.messages.keepPinned(() => this.messages.upsert(data));
    if (ours) this.messages.scrollToBottom();
  }

  onFrame(f) {
    if (f.type === 'error') return this.onErrorFrame(f);
    if (f.type === 'created') {
      // Only the answer to this tab's own send: another tab's new chat is not shown here.
      if (f.ref && f.ref === this.awaitingRef) {
        this.awaitingRef = null;
        this.onCreated(f.conversation);
      }
      return;
    }
    if (f.type === 'conversation') return this.onConversation(f.conversation);
    if (f.type === 'budget') return this.onBudget?.(f.budget);
    const id = this.conversationId();
    if (!id || f.conversation !== id) return;
    if (['delta', 'snapshot', 'done'].includes(f.type)) this.heardSinceOpen = true;
    if (f.type === 'message') this.onMessage(f.message);
    else if (f.type === 'delta') this.onDelta(f);
    else if (f.type === 'snapshot') this.onSnapshot(f);
    else if (f.type === 'done') {
      this.resyncAsked = false;
      this.messages.keepPinned(() => this.messages.upsert(f.message)); // carries the final full text
    } else if (f.type === 'truncated') this.messages.removeAfter(f.after);
    this.onChange();
  }

  onErrorFrame(f) {
    if (f.ref && f.ref === this.awaitingRef) this.awaitingRef = null;
    this.showError(f.error || gettext('The server refused that.'));
    this.restorePending();
    this.resyncAsked = false;
  }

  // Put a refused message back into the composer (which keeps a new one the user started).
  restorePending() {
    if (!this.pending) return;
    const pending = this.pending;
    this.pending = null;
    this.composer.restore(pending);
  }

  onOpen(reconnected) {
    this.status.hidden = true;
    this.resyncAsked = false;
    this.heardSinceOpen = false;
    const id = this.conversationId();
    if (!id) return;
    this.subscribe(id);
    // The server answers a subscribe with a snapshot only while an answer streams. If we
    // still show one streaming after a drop and hear nothing, it ended while we were away.
    if (reconnected && this.messages.isStreaming) {
      setTimeout(() => {
        if (this.heardSinceOpen || !this.messages.isStreaming || !this.isOpen) return;
        if (this.composer.isEmpty) location.reload();
        else this.showError(gettext('The answer ended while the connection was down. Reload the page to see it.'));
      }, 5000);
    }
  }

  onClose(code) {
    this.status.hidden = false;
    // A frame too large for the server (4009 from chatsite, 1009 from the server's own limit):
    // the checks above should have caught it first.
    if (code === 1009 || code === 4009) this.showError(gettext('That message is too large to send.'));
    this.restorePending();
  }
}
