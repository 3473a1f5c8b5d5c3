// Keeping and ordering conversations in the sidebar (chatsite/chat/keeping.py): pinned ones on
// top (the latest pin first), the folders with theirs, the rest by recency; each item's ⋯ menu
// (Pin, Move to folder…, Archive; Rename and Delete are js/sidebar.js's); dragging an item onto
// the pinned list, a folder or the rest; the dialogs that name a folder and move a conversation.
// Every change shows the server's answer at once; other tabs show it when they are reloaded
// (the sidebar has no live updates between tabs, renames included).
import { gettext } from './i18n.js';
import { h } from './dom.js';
import { postJSON } from './net.js';
import { closeMenu, isOpenFor, openMenu } from './conversation-menu.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const COLLAPSED_KEY = 'chatsite.collapsedFolders'; // folder ids, kept in this browser
const DRAG_TYPE = 'application/x-chatsite-conversation';

const time = (value) => Date.parse(value || '') || 0;

export class Keeper {
  // kept: #kept (pinned list, folders, URL patterns); sidebar: js/sidebar.js's Sidebar, whose
  // list holds the rest.
  constructor(kept, sidebar, { showError }) {
    Object.assign(this, { kept, sidebar, showError });
    this.root = sidebar.root;
    this.pinned = kept.querySelector('[data-list="pinned"]');
    this.folderList = kept.querySelector('.folder-list');
    this.template = document.getElementById('folder-template');
    this.folderDialog = document.getElementById('folder-dialog');
    this.moveDialog = document.getElementById('move-dialog');
    this.restoreCollapsed();
    this.root.addEventListener('click', (e) => this.onClick(e));
    this.dragAndDrop();
    this.refresh();
    // Items come and go from js/sidebar.js too (a new chat, a delete).
    new MutationObserver(() => this.refresh()).observe(this.root, { childList: true, subtree: true });
  }

  url(kind, id = ZERO_UUID) {
    return this.kept.dataset[`${kind}Url`].replace(ZERO_UUID, id);
  }

  folderFor(id) {
    return id ? this.folderList.querySelector(`.folder[data-folder-id="${CSS.escape(id)}"]`) : null;
  }

  get folders() {
    return [...this.folderList.querySelectorAll(':scope > .folder')].map((el) => ({
      id: el.dataset.folderId,
      name: el.querySelector('.folder-name').textContent,
    }));
  }

  // -- where an item goes --------------------------------------------------------------------

  // Pinned if pinned, else in its folder, else with the rest; each list in its order.
  place(li) {
    const folder = this.folderFor(li.dataset.folder);
    const list = li.dataset.pinned ? this.pinned : folder?.querySelector('.folder-conversations') ?? this.sidebar.list;
    const key = list === this.pinned ? 'pinned' : 'updated';
    const at = time(li.dataset[key]);
    const before = [...list.children].find((other) => other !== li && time(other.dataset[key]) < at);
    list.insertBefore(li, before ?? null);
    if (folder && !li.dataset.pinned) this.setExpanded(folder, true, { remember: true }); // show where it went
  }

  // The server's answer to a pin, an archive or a move.
  apply(li, kept) {
    if (kept.archived) {
      li.remove();
      if (this.sidebar.currentId() === kept.id) location.href = this.sidebar.list.dataset.indexUrl;
      return;
    }
    if (kept.pinned) li.dataset.pinned = kept.pinned_at;
    else delete li.dataset.pinned;
    li.dataset.folder = kept.folder || '';
    this.place(li);
  }

  // An item the Archived view gave back: built as js/sidebar.js builds one, then placed.
  restore(kept) {
    if (this.sidebar.itemFor(kept.id)) return;
    const current = this.sidebar.currentId() === kept.id;
    this.apply(this.sidebar.add({ id: kept.id, title: kept.title, updated: kept.updated }, { current }), kept);
  }

  async change(li, kind, body) {
    try {
      this.apply(li, await postJSON(this.url(kind, li.dataset.conversationId), body));
    } catch (err) {
      this.showError(err.message);
    }
  }

  // Empty lists say so (folders.css: :empty), and the pinned one hides unless a drag could
  // fill it.
  refresh() {
    for (const list of this.root.querySelectorAll('.conversation-list')) {
      // The template's spaces, left when the last item goes (only then: no mutation, no loop).
      if (!list.children.length && list.childNodes.length) list.replaceChildren();
    }
    this.kept.querySelector('.kept-pinned').classList.toggle('is-empty', !this.pinned.children.length);
  }

  // -- clicks: menus, folder toggles, New folder ---------------------------------------------

  onClick(e) {
    const button = e.target.closest('button');
    if (!button || !this.root.contains(button)) return;
    if (button.matches('.conversation-item .menu-button')) this.toggleMenu(button, () => this.itemMenu(button));
    else if (button.matches('.folder-menu-button')) this.toggleMenu(button, () => this.folderMenu(button));
    else if (button.matches('.folder-toggle')) this.toggleFolder(button.closest('.folder'));
    else if (button.matches('.new-folder')) this.newFolder();
  }

  toggleMenu(button, open) {
    if (isOpenFor(button)) closeMenu({ focus: true });
    else open();
  }

  itemMenu(button) {
    const li = button.closest('.conversation-item');
    const pinned = Boolean(li.dataset.pinned);
    const items = [
      { label: pinned ? gettext('Unpin') : gettext('Pin'), data: { keep: pinned ? 'unpin' : 'pin' } },
      { label: gettext('Move to folder…'), data: { keep: 'move' } },
      { label: gettext('Archive'), data: { keep: 'archive' } },
      { label: gettext('Rename'), data: { action: 'rename' } }, // js/sidebar.js's
      { label: gettext('Delete'), data: { action: 'delete' }, danger: true },
    ].filter((item) => item.data.action !== 'delete' || this.sidebar.mayDelete);
    openMenu(button, items, (choice) => {
      if (choice.keep === 'pin' || choice.keep === 'unpin') this.change(li, 'pin', { pinned: choice.keep === 'pin' });
      else if (choice.keep === 'archive') this.change(li, 'archive', { archived: true });
      else if (choice.keep === 'move') this.askMove(li);
    });
  }

  folderMenu(button) {
    const folder = button.closest('.folder');
    const items = [
      { label: gettext('Rename folder'), data: { keep: 'rename' } },
      { label: gettext('Delete folder'), data: { keep: 'delete' }, danger: true },
    ];
    openMenu(button, items, (choice) => {
      if (choice.keep === 'rename') this.renameFolder(folder);
      else this.deleteFolder(folder);
    });
  }

  // -- folders -------------------------------------------------------------------------------

  addFolder({ id, name }) {
    const folder = this.template.content.firstElementChild.cloneNode(true);
    folder.dataset.folderId = id;
    folder.querySelector('.folder-name').textContent = name;
    folder.querySelector('.folder-toggle').setAttribute('aria-controls', `folder-${id}`);
    folder.querySelector('.folder-conversations').id = `folder-${id}`;
    this.folderList.append(folder);
    return folder;
  }

  async newFolder() {
    return this.nameFolder(gettext('New folder'), '', async (name) => this.addFolder(await postJSON(this.url('createFolder'), { name })));
  }

  renameFolder(folder) {
    const nameEl = folder.querySelector('.folder-name');
    this.nameFolder(gettext('Rename folder'), nameEl.textContent, async (name) => {
      nameEl.textContent = (await postJSON(this.url('renameFolder', folder.dataset.folderId), { name })).name;
      return folder;
    });
  }

  async deleteFolder(folder) {
    const name = folder.querySelector('.folder-name').textContent;
    if (!confirm(gettext('Delete the folder “%(name)s”? Its conversations are kept, out of any folder.', { name }))) return;
    const id = folder.dataset.folderId;
    try {
      await postJSON(this.url('deleteFolder', id), {});
    } catch (err) {
      this.showError(err.message);
      return;
    }
    const moved = [...this.root.querySelectorAll('.conversation-item')].filter((li) => li.dataset.folder === id);
    folder.remove();
    for (const li of moved) {
      li.dataset.folder = '';
      this.place(li);
    }
  }

  // The folder dialog: save(name) resolves to the result, or throws with the server's refusal,
  // which is shown there while the dialog stays open. Resolves to the result, or null.
  nameFolder(heading, value, save) {
    const dialog = this.folderDialog;
    const form = dialog.querySelector('form');
    const input = form.elements.name;
    const error = dialog.querySelector('.settings-error');
    dialog.querySelector('h2').textContent = heading;
    input.value = value;
    error.hidden = true;
    dialog.showModal();
    input.select();
    return new Promise((resolve) => {
      let result = null;
      const submit = async (e) => {
        e.preventDefault();
        try {
          result = await save(input.value);
          dialog.close();
        } catch (err) {
          error.textContent = err.message;
          error.hidden = false;
          input.focus();
        }
      };
      const cancel = () => dialog.close();
      const cancelButton = dialog.querySelector('.dialog-cancel');
      form.addEventListener('submit', submit);
      cancelButton.addEventListener('click', cancel);
      dialog.addEventListener('close', () => {
        form.removeEventListener('submit', submit);
        cancelButton.removeEventListener('click', cancel);
        resolve(result);
      }, { once: true });
    });
  }

  // The menu's Move to folder…: one button per folder, "No folder" for one in a folder, and a
  // new folder made and moved into in one go.
  askMove(li) {
    const dialog = this.moveDialog;
    const title = li.querySelector('.conversation-title').textContent;
    const choices = dialog.querySelector('.move-choices');
    const error = dialog.querySelector('.settings-error');
    dialog.querySelector('.move-what').textContent = title;
    error.hidden = true;
    const here = li.dataset.pinned ? null : li.dataset.folder;
    const buttons = this.folders.map(({ id, name }) =>
      h('button', { type: 'button', class: 'move-choice', 'data-folder': id, 'aria-current': id === here ? 'true' : null, disabled: id === here, text: name }));
    if (li.dataset.folder) buttons.push(h('button', { type: 'button', class: 'move-choice move-out', 'data-folder': '', text: gettext('No folder') }));
    choices.replaceChildren(...buttons);
    dialog.querySelector('.move-no-folders').hidden = this.folders.length > 0;

    const moveTo = async (folder) => {
      try {
        this.apply(li, await postJSON(this.url('move', li.dataset.conversationId), { folder }));
        dialog.close();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    };
    const onClick = async (e) => {
      const button = e.target.closest('button');
      if (!button) return;
      if (button.matches('.move-choice')) moveTo(button.dataset.folder || null);
      else if (button.matches('.dialog-cancel')) dialog.close();
      else if (button.matches('.move-new-folder')) {
        const folder = await this.newFolder();
        if (folder) moveTo(folder.dataset.folderId);
      }
    };
    dialog.addEventListener('click', onClick);
    dialog.addEventListener('close', () => dialog.removeEventListener('click', onClick), { once: true });
    dialog.showModal();
    (choices.querySelector('button:not([disabled])') ?? dialog.querySelector('.move-new-folder')).focus();
  }

  // -- collapsing ----------------------------------------------------------------------------

  setExpanded(folder, expanded, { remember = false } = {}) {
    folder.querySelector('.folder-toggle').setAttribute('aria-expanded', String(expanded));
    folder.querySelector('.folder-conversations').hidden = !expanded;
    folder.classList.toggle('is-collapsed', !expanded);
    if (remember) this.rememberCollapsed(folder, !expanded);
  }

  toggleFolder(folder) {
    const expanded = folder.querySelector('.folder-toggle').getAttribute('aria-expanded') !== 'true';
    this.setExpanded(folder, expanded, { remember: true });
  }

  rememberCollapsed(folder, collapsedNow) {
    const collapsed = new Set(this.storedCollapsed());
    if (collapsed.has(folder.dataset.folderId) === collapsedNow) return;
    if (collapsedNow) collapsed.add(folder.dataset.folderId);
    else collapsed.delete(folder.dataset.folderId);
    try {
      localStorage.setItem(COLLAPSED_KEY, JSON.stringify([...collapsed]));
    } catch {
      // Storage refused (private mode, full): the folder is collapsed until the page reloads.
    }
  }

  storedCollapsed() {
    try {
      const ids = JSON.parse(localStorage.getItem(COLLAPSED_KEY) || '[]');
      return Array.isArray(ids) ? ids.filter((id) => typeof id === 'string') : [];
    } catch {
      return [];
    }
  }

  restoreCollapsed() {
    for (const id of this.storedCollapsed()) {
      const folder = this.folderFor(id);
      // The folder of the conversation on show stays open.
      if (folder && !folder.querySelector('.conversation-item.is-current')) this.setExpanded(folder, false);
    }
  }

  // -- drag and drop (the menu's Pin and Move to folder… do the same from the keyboard) --------

  dragAndDrop() {
    let dragged = null;
    let over = null;
    const target = (e) => (dragged ? e.target.closest?.('[data-drop]') : null);
    const highlight = (el) => {
      if (over === el) return;
      over?.classList.remove('is-drop-target');
      over = el;
      over?.classList.add('is-drop-target');
    };
    const end = () => {
      dragged = null;
      highlight(null);
      this.root.classList.remove('is-dragging-conversation');
    };
    this.root.addEventListener('dragstart', (e) => {
      const li = e.target.closest?.('.conversation-item');
      if (!li) return;
      closeMenu();
      dragged = li;
      e.dataTransfer.setData(DRAG_TYPE, li.dataset.conversationId);
      this.root.classList.add('is-dragging-conversation');
    });
    this.root.addEventListener('dragover', (e) => {
      const el = target(e);
      highlight(el);
      if (!el) return;
      e.preventDefault(); // allows the drop
      e.dataTransfer.dropEffect = 'move';
    });
    this.root.addEventListener('dragleave', (e) => {
      if (!this.root.contains(e.relatedTarget)) highlight(null);
    });
    this.root.addEventListener('drop', (e) => {
      const el = target(e);
      const li = dragged;
      end();
      if (!el || !li) return;
      e.preventDefault();
      this.dropOn(li, el);
    });
    this.root.addEventListener('dragend', end);
  }

  dropOn(li, el) {
    const { pinned, folder } = li.dataset;
    if (el.dataset.drop === 'pinned') {
      if (!pinned) this.change(li, 'pin', { pinned: true });
    } else if (el.dataset.drop === 'folder') {
      if (pinned || folder !== el.dataset.folderId) this.change(li, 'move', { folder: el.dataset.folderId });
    } else if (pinned || folder) {
      this.change(li, 'move', { folder: null }); // onto the rest: out of its folder, unpinned
    }
  }
}
