// Talking to the server: JSON POSTs and uploads with the CSRF token, and the chat
// websocket that reconnects by itself.
import { gettext } from './i18n.js';

const LOGIN_PATH = '/accounts/login/';

export function csrfToken() {
  // The rendered {% csrf_token %} input works even with CSRF_COOKIE_HTTPONLY; the cookie
  // is the fallback for pages without a form.
  const input = document.querySelector('input[name=csrfmiddlewaretoken]');
  if (input) return input.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

// POST and return the JSON answer; throw an Error whose message is fit to show.
async function post(url, body, headers = {}) {
  let res;
  try {
    res = await fetch(url, {
      method: 'POST',
      body,
      credentials: 'same-origin',
      headers: { ...headers, Accept: 'application/json', 'X-CSRFToken': csrfToken() },
    });
  } catch {
    throw new Error(gettext('Could not reach the server.'));
  }
  // An expired session answers with a redirect to the login page, followed by fetch.
  if (res.redirected && new URL(res.url).pathname.startsWith(LOGIN_PATH)) {
    location.href = LOGIN_PATH;
    throw new Error(gettext('You have been logged out.'));
  }
  let data = null;
  if ((res.headers.get('Content-Type') || '').includes('json')) {
    data = await res.json().catch(() => null);
  }
  if (!res.ok || !data) {
    const fallback = res.status === 413 ? gettext('The file is too large.') : gettext('Request failed (%(status)s).', { status: res.status });
    throw new Error(data?.error || fallback);
  }
  return data;
}

// GET and return the JSON answer; throw an Error whose message is fit to show.
export async function getJSON(url) {
  let res;
  try {
    res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  } catch {
    throw new Error(gettext('Could not reach the server.'));
  }
  const data = (res.headers.get('Content-Type') || '').includes('json') ? await res.json().catch(() => null) : null;
  if (!res.ok || !data) throw new Error(data?.error || gettext('Request failed (%(status)s).', { status: res.status }));
  return data;
}

export function postJSON(url, data = {}) {
  return post(url, JSON.stringify(data), { 'Content-Type': 'application/json' });
}

export function uploadFile(url, file) {
  const form = new FormData();
  form.append('file', file, file.name || 'pasted-image');
  return post(url, form); // the browser sets the multipart boundary itself
}

// One websocket that comes back after a drop: 1 s, 2 s, 4 s… at most 10 s between tries.
export class ReconnectingSocket {
  constructor(path, { onOpen, onFrame, onClose }) {
    this.url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
    this.handlers = { onOpen, onFrame, onClose };
    this.delay = 1000;
    this.opens = 0;
    this.connect();
  }

  connect() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener('open', () => {
      this.delay = 1000;
      this.opens += 1;
      this.handlers.onOpen(this.opens > 1);
    });
    ws.addEventListener('message', (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handlers.onFrame(frame);
    });
    ws.addEventListener('close', (event) => {
      // 4401: the session ended (logout or deactivation); reconnecting would only fail.
      if (event.code === 4401) {
        location.href = LOGIN_PATH;
        return;
      }
      this.handlers.onClose(event.code);
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame) {
    return this.sendText(JSON.stringify(frame));
  }

  // A frame already turned into JSON (by a caller that measured it first).
  sendText(text) {
    if (!this.isOpen) return false;
    this.ws.send(text);
    return true;
  }
}
