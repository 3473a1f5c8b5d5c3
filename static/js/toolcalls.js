// Tool calls of an answer: one collapsible block per call with its arguments and result, all
// plain text (textContent only: both come from the model or a tool, never trusted as HTML).
import { gettext } from './i18n.js';

const STATUS = {
  streaming: gettext('being written…'),
  running: gettext('running…'),
  done: gettext('done'),
  error: gettext('failed'),
  stopped: gettext('not run'),
};

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function section(label, className) {
  const wrap = document.createElement('div');
  wrap.className = className;
  const title = document.createElement('span');
  title.className = 'tool-call-label';
  title.textContent = label;
  const pre = document.createElement('pre');
  wrap.append(title, pre);
  return wrap;
}

function build(call) {
  const el = document.createElement('details');
  el.className = 'tool-call';
  el.dataset.callId = call.id || '';
  const summary = document.createElement('summary');
  const name = document.createElement('code');
  name.className = 'tool-call-name';
  const status = document.createElement('span');
  status.className = 'tool-call-status';
  // The tool's name goes where the sentence puts it (%(name)s).
  const [before, after] = gettext('Tool %(name)s').split('%(name)s');
  summary.append(before, name, after ?? '', ' ', status);
  el.append(summary, section(gettext('Arguments'), 'tool-call-arguments'), section(gettext('Result'), 'tool-call-result'));
  return el;
}

// Brings container up to date with calls, reusing blocks so an opened one stays open.
export function renderToolCalls(container, calls) {
  container.hidden = !calls.length;
  const existing = [...container.children];
  calls.forEach((call, i) => {
    let el = existing[i];
    if (!el) {
      el = build(call);
      container.append(el);
    }
    el.dataset.status = call.status;
    el.querySelector('.tool-call-name').textContent = call.name || '…';
    const ms = call.ms != null && call.status !== 'running' ? ` in ${call.ms} ms` : '';
    el.querySelector('.tool-call-status').textContent = `${STATUS[call.status] || call.status}${ms}`;
    el.querySelector('.tool-call-arguments pre').textContent = call.status === 'streaming' ? call.arguments : pretty(call.arguments || '{}');
    const result = el.querySelector('.tool-call-result');
    result.hidden = !call.result;
    result.querySelector('pre').textContent = pretty(call.result || '');
  });
  for (const extra of existing.slice(calls.length)) extra.remove();
}
