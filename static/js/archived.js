// The Archived view: the user's archived conversations (out of the sidebar), the latest archived
// first, each to open, unarchive (back where it was: pinned, in its folder or with the rest)
// or delete.
import { gettext, ngettext } from './i18n.js';
import { h } from './dom.js';
import { getJSON, postJSON } from './net.js';

export function archivedView({ button, dialog, keeper, sidebar }) {
  const list = dialog.querySelector('.archived-list');
  const status = dialog.querySelector('.archived-status');
  const error = dialog.querySelector('.settings-error');

  const count = () => {
    const n = list.children.length;
    status.textContent = n
      ? ngettext('%(count)s archived conversation', '%(count)s archived conversations', n)
      : gettext('Nothing is archived.');
  };
  const fail = (err) => {
    error.textContent = err.message;
    error.hidden = false;
  };

  const row = (conv) => {
    const title = conv.title || gettext('New chat');
    return h('li', { class: 'archived-item', 'data-conversation-id': conv.id },
      h('a', { class: 'archived-link', href: sidebar.urlFor('conversation', conv.id), text: title }),
      h('button', { type: 'button', class: 'archived-unarchive', text: gettext('Unarchive'), 'aria-label': gettext('Unarchive “%(title)s”', { title }) }),
      ...(sidebar.mayDelete ? [h('button', { type: 'button', class: 'archived-delete danger', text: gettext('Delete'), 'aria-label': gettext('Delete “%(title)s”', { title }) })] : []));
  };

  button.addEventListener('click', async () => {
    error.hidden = true;
    list.replaceChildren();
    status.textContent = gettext('Loading…');
    dialog.showModal();
    try {
      const { conversations } = await getJSON(keeper.url('archived'));
      list.replaceChildren(...conversations.map(row));
      count();
    } catch (err) {
      status.textContent = '';
      fail(err);
    }
  });

  dialog.addEventListener('click', async (e) => {
    const target = e.target.closest('button');
    if (!target) return;
    if (target.matches('.dialog-cancel')) {
      dialog.close();
      return;
    }
    const item = target.closest('.archived-item');
    if (!item) return;
    const id = item.dataset.conversationId;
    error.hidden = true;
    try {
      if (target.matches('.archived-unarchive')) {
        keeper.restore(await postJSON(keeper.url('archive', id), { archived: false }));
      } else if (target.matches('.archived-delete')) {
        const title = item.querySelector('.archived-link').textContent;
        if (!confirm(gettext('Delete “%(title)s”? This cannot be undone.', { title }))) return;
        const answer = await postJSON(sidebar.urlFor('delete', id), {});
        // A site that keeps conversations archives instead of deleting: it stays here.
        if (answer.archived) {
          fail(new Error(answer.message));
          return;
        }
        if (sidebar.currentId() === id) {
          location.href = sidebar.list.dataset.indexUrl;
          return;
        }
      } else {
        return;
      }
    } catch (err) {
      fail(err);
      return;
    }
    item.remove();
    count();
    (list.querySelector('button') ?? dialog.querySelector('.dialog-cancel')).focus();
  });
}
