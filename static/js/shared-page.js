// A shared conversation, read only: each message rendered exactly as the chat renders it
// (message-view.js: Markdown through the sanitizer, everything else as text), without its actions.
import { buildMessage, renderMessage } from './message-view.js';

const box = document.getElementById('messages');
for (const data of JSON.parse(document.getElementById('shared-messages').textContent)) {
  const m = { id: data.id, role: data.role, seq: 0, editing: false };
  buildMessage(m);
  Object.assign(m, {
    data,
    status: data.status,
    text: data.text || '',
    reasoning: data.reasoning || '',
    refusal: data.refusal || '',
    toolCalls: data.tool_calls || [],
    citations: data.citations || [],
    logprobs: [],
  });
  m.el.querySelector('.message-actions')?.remove();
  box.append(m.el);
  renderMessage(m);
}
