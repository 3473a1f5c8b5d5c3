// The conversation's messages in the page: one record per message (its text, reasoning,
// citations, token probabilities, tool calls and the seq of its last delta) with its article.
// The streaming hot path lives here: a delta only changes the record and marks it, and its
// body is rendered once per animation frame however many deltas came.
import { buildMessage, renderMessage, renderBody } from './message-view.js';

export class MessageList {
  constructor(scroller) {
    this.scroller = scroller;
    this.byId = new Map(); // id → {id, role, text, citations, logprobs, seq, status, data, el, body, editing}
    this.dirty = new Set(); // messages whose body waits for the next animation frame
    this.frame = 0;
  }

  get(id) {
    return this.byId.get(id);
  }

  get all() {
    return [...this.byId.values()];
  }

  get isStreaming() {
    return this.all.some((m) => m.status === 'streaming');
  }

  get lastAssistant() {
    return this.all.filter((m) => m.role === 'assistant').pop();
  }

  get isPinned() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  // Follow new text only when the reader was already at the bottom, not while they read back.
  keepPinned(change) {
    const pinned = this.isPinned;
    change();
    if (pinned) this.scrollToBottom();
  }

  // Add a message, or bring an existing one up to date from a full message object.
  upsert(data, seq = 0) {
    let m = this.byId.get(data.id);
    if (!m) {
      m = { id: data.id, role: data.role, seq, editing: false };
      buildMessage(m);
      this.byId.set(m.id, m);
      this.scroller.append(m.el);
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
    this.dirty.delete(m);
    renderMessage(m);
    return m;
  }

  // Older messages (oldest first) put above the ones shown, the reader's place kept.
  prepend(datas) {
    const fresh = datas.filter((data) => !this.byId.has(data.id));
    if (!fresh.length) return;
    const before = this.scroller.scrollHeight;
    const first = this.scroller.querySelector('article');
    const entries = fresh.map((data) => {
      const m = { id: data.id, role: data.role, seq: 0, editing: false };
      buildMessage(m);
      this.scroller.insertBefore(m.el, first);
      return [m.id, m];
    });
    // The records stay in conversation order: edits and truncations count on it.
    this.byId = new Map([...entries, ...this.byId]);
    for (const data of fresh) this.upsert(data);
    this.scroller.scrollTop += this.scroller.scrollHeight - before;
  }

  // Newer messages (oldest first) put after the message afterId, in their order: a page opened
  // in the middle of a conversation filling in as the reader scrolls down. One already shown
  // (the last answer, sent live on subscribing) is moved into its place, not shown twice.
  insertAfter(afterId, datas) {
    if (!this.byId.has(afterId) || !datas.length) return;
    const fresh = datas.filter((data) => !this.byId.has(data.id));
    const page = datas.map((data) => this.byId.get(data.id) ?? { id: data.id, role: data.role, seq: 0, editing: false });
    for (const m of page) if (!m.el) buildMessage(m);
    const moved = new Set(page.map((m) => m.id));
    const rest = [...this.byId].filter(([id]) => !moved.has(id));
    const at = rest.findIndex(([id]) => id === afterId) + 1;
    const next = rest[at]?.[1].el ?? null;
    for (const m of page) this.scroller.insertBefore(m.el, next);
    this.byId = new Map([...rest.slice(0, at), ...page.map((m) => [m.id, m]), ...rest.slice(at)]);
    for (const data of fresh) this.upsert(data);
  }

  // A delta's additions (the caller has checked its seq), shown with the next animation frame.
  append(m, f) {
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
    this.scheduleBody(m);
  }

  scheduleBody(m) {
    this.dirty.add(m);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.keepPinned(() => {
        for (const dirty of this.dirty) renderBody(dirty);
        this.dirty.clear();
      });
    });
  }

  // Drop the messages after afterId (null: all of them), as a `truncated` frame says.
  removeAfter(afterId) {
    const all = this.all;
    const start = afterId === null ? 0 : all.findIndex((m) => m.id === afterId) + 1;
    if (start === 0 && afterId !== null) return; // unknown id: nothing we can safely drop
    for (const m of all.slice(start)) {
      m.el.remove();
      this.byId.delete(m.id);
      this.dirty.delete(m);
    }
  }
}
