// The sidebar: the list of conversations (the current one marked, the most recently used
// first), renaming and deleting them. Showing and hiding it: js/sidebar-toggle.js.
import { h } from './dom.js';
import { postJSON } from './net.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export class Sidebar {
  // list: the <ul> the page rendered; currentId() → the shown conversation's id or null;
  // onRenamed(conversation) gets the server's answer to a rename.
  constructor(list, { currentId, onRenamed, showError }) {
    Object.assign(this, { list, currentId, onRenamed, showError });
    for (const li of list.querySelectorAll('.conversation-item')) decorate(li);
    list.addEventListener('click', (e) => this.onClick(e));
  }

  // URLs come from Django's reversed templates with a zero UUID (see chat.html).
  urlFor(kind, id) {
    return this.list.dataset[`${kind}Url`].replace(ZERO_UUID, id);
  }

  itemFor(id) {
    return this.list.querySelector(`.conversation-item[data-conversation-id="${CSS.escape(id)}"]`);
  }

  // A new chat, at the top and marked as the current one.
  add(conv) {
    const link = h('a', { class: 'conversation-link', href: this.urlFor('conversation', conv.id) },
      h('span', { class: 'conversation-title', text: conv.title || 'New chat' }));
    const li = h('li', { class: 'conversation-item', 'data-conversation-id': conv.id }, link);
    decorate(li);
    this.list.prepend(li);
    this.markCurrent(li);
  }

  markCurrent(li) {
    for (const other of this.list.querySelectorAll('.conversation-item.is-current')) {
      other.classList.remove('is-current');
      other.querySelector('a').removeAttribute('aria-current');
    }
    li.classList.add('is-current');
    li.querySelector('a').setAttribute('aria-current', 'page');
  }

  setTitle(conv) {
    const li = this.itemFor(conv.id);
    if (li) li.querySelector('.conversation-title').textContent = conv.title || 'New chat';
  }

  // Most recently used first, as the server orders them.
  moveToTop(id) {
    const li = this.itemFor(id);
    if (li) this.list.prepend(li);
  }

  async onClick(e) {
    const button = e.target.closest('button[data-action]');
    if (!button) return;
    const li = button.closest('.conversation-item');
    const id = li.dataset.conversationId;
    const current = li.querySelector('.conversation-title').textContent;
    try {
      if (button.dataset.action === 'rename') {
        const title = prompt('Rename conversation', current);
        if (title === null || !title.trim() || title.trim() === current) return;
        this.onRenamed(await postJSON(this.urlFor('rename', id), { title: title.trim() }));
      } else {
        if (!confirm(`Delete “${current}”? This cannot be undone.`)) return;
        await postJSON(this.urlFor('delete', id), {});
        if (this.currentId() === id) {
          location.href = this.list.dataset.indexUrl;
          return;
        }
        li.remove();
      }
    } catch (err) {
      this.showError(err.message);
    }
  }
}

function decorate(li) {
  li.append(
    h('span', { class: 'conversation-actions' },
      h('button', { type: 'button', class: 'rename-button', 'data-action': 'rename', text: 'Rename', 'aria-label': 'Rename conversation' }),
      h('button', { type: 'button', class: 'delete-button', 'data-action': 'delete', text: 'Delete', 'aria-label': 'Delete conversation' })),
  );
}
