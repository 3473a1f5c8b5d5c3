// The sidebar: the list of conversations (the current one marked, the most recently used
// first), renaming and deleting them. Showing and hiding it: js/sidebar-toggle.js. Pinned
// conversations, folders and the rest of each item's menu are js/folders.js's.
import { h } from './dom.js';
import { gettext } from './i18n.js';
import { postJSON } from './net.js';
import { menuButton } from './conversation-menu.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export class Sidebar {
  // list: the <ul> of conversations neither pinned nor in a folder; the sidebar around it holds
  // the others. currentId() → the shown conversation's id or null; onRenamed(conversation)
  // gets the server's answer to a rename.
  constructor(list, { currentId, onRenamed, showError }) {
    Object.assign(this, { list, currentId, onRenamed, showError });
    this.root = list.closest('.sidebar') ?? list;
    for (const li of this.root.querySelectorAll('.conversation-item')) decorate(li);
    this.root.addEventListener('click', (e) => this.onClick(e));
  }

  // URLs come from Django's reversed templates with a zero UUID (see chat.html).
  urlFor(kind, id) {
    return this.list.dataset[`${kind}Url`].replace(ZERO_UUID, id);
  }

  // Off on a site that keeps records (the server archives instead): no Delete is offered.
  get mayDelete() {
    return !('deleteArchives' in this.list.dataset);
  }

  itemFor(id) {
    return this.root.querySelector(`.conversation-item[data-conversation-id="${CSS.escape(id)}"]`);
  }

  // A new chat, at the top and marked as the current one (unless current is false: one
  // js/archived.js brings back).
  add(conv, { current = true } = {}) {
    const link = h('a', { class: 'conversation-link', href: this.urlFor('conversation', conv.id) },
      h('span', { class: 'conversation-title', text: conv.title || gettext('New chat') }));
    const li = h('li', {
      class: 'conversation-item', 'data-conversation-id': conv.id, 'data-updated': conv.updated || new Date().toISOString(),
      'data-folder': '', draggable: 'true',
    }, link);
    decorate(li);
    this.list.prepend(li);
    if (current) this.markCurrent(li);
    return li;
  }

  markCurrent(li) {
    for (const other of this.root.querySelectorAll('.conversation-item.is-current')) {
      other.classList.remove('is-current');
      other.querySelector('a').removeAttribute('aria-current');
    }
    li.classList.add('is-current');
    li.querySelector('a').setAttribute('aria-current', 'page');
  }

  setTitle(conv) {
    const li = this.itemFor(conv.id);
    if (li) li.querySelector('.conversation-title').textContent = conv.title || gettext('New chat');
  }

  // Most recently used first, as the server orders them (pinned ones keep their pin order).
  moveToTop(id) {
    const li = this.itemFor(id);
    if (!li) return;
    li.dataset.updated = new Date().toISOString();
    if (li.parentElement.dataset.list !== 'pinned') li.parentElement.prepend(li);
  }

  async onClick(e) {
    const button = e.target.closest('button[data-action]');
    if (!button) return;
    const li = button.closest('.conversation-item');
    const id = li.dataset.conversationId;
    const current = li.querySelector('.conversation-title').textContent;
    try {
      if (button.dataset.action === 'rename') {
        const title = prompt(gettext('Rename conversation'), current);
        if (title === null || !title.trim() || title.trim() === current) return;
        this.onRenamed(await postJSON(this.urlFor('rename', id), { title: title.trim() }));
      } else {
        if (!confirm(gettext('Delete “%(title)s”? This cannot be undone.', { title: current }))) return;
        const answer = await postJSON(this.urlFor('delete', id), {});
        if (answer.archived) this.showError(answer.message); // kept, in Archived
        else if (this.currentId() === id) {
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

// Rename and Delete are in the item's menu (conversation-menu.js) as buttons with
// data-action, handled by onClick above.
function decorate(li) {
  li.append(h('span', { class: 'conversation-actions' }, menuButton(gettext('Conversation options'))));
}
