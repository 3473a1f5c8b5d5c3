// Files attached in the composer (images, PDFs, text files, WAV or MP3): checked against the
// chosen model, uploaded at once, previewed until the message is sent. Files come from the
// picker, drag and drop, or paste. The server tells files apart by their bytes and has the last
// word; the checks here only save an upload and say early why something cannot go.
import { uploadFile } from './net.js';
import { gettext, formatNumber } from './i18n.js';

export const formatBytes = (n) => (n >= 1048576
  ? gettext('%(size)s MB', { size: formatNumber(+(n / 1048576).toFixed(1)) })
  : gettext('%(size)s KB', { size: formatNumber(Math.ceil(n / 1024)) }));
export const KIND_LABELS = { image: gettext('Image'), pdf: gettext('PDF'), text: gettext('Text'), audio: gettext('Audio') };
const AUDIO_TYPES = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/mpeg', 'audio/mp3'];
// What each kind needs of the model, and how a refusal names it.
const NEEDS = {
  image: ['vision', (model) => gettext('%(model)s does not take images', { model })],
  audio: ['audio', (model) => gettext('%(model)s does not take audio', { model })],
};

const extension = (name) => (name.includes('.') ? name.split('.').pop().toLowerCase() : '');

export class AttachmentTray {
  constructor(tray, { uploadUrl, maxBytes, types, textExtensions, model, onChange }) {
    this.tray = tray;
    this.uploadUrl = uploadUrl;
    this.maxBytes = maxBytes;
    this.types = types;
    this.textExtensions = textExtensions;
    this.model = model; // () => the chosen model's {label, abilities}, or null
    this.onChange = onChange;
    this.items = []; // {file, kind, url, status: 'uploading'|'ready'|'error', id, el, blocked}
  }

  // The `accept` list for the file picker.
  get accept() {
    return ['image/*', 'application/pdf', '.pdf', '.wav', '.mp3', ...AUDIO_TYPES, ...this.textExtensions.map((e) => `.${e}`)].join(',');
  }

  kindOf(file) {
    const ext = extension(file.name || '');
    if (file.type.startsWith('image/')) return this.types.includes(file.type) ? 'image' : null;
    if (file.type === 'application/pdf' || ext === 'pdf') return 'pdf';
    if (AUDIO_TYPES.includes(file.type) || ext === 'wav' || ext === 'mp3') return 'audio';
    if (this.textExtensions.includes(ext)) return 'text';
    return null;
  }

  // Why the chosen model cannot take this kind of file, or null.
  refusal(kind) {
    const model = this.model();
    const need = NEEDS[kind];
    if (!model || !need || model.abilities[need[0]]) return null;
    return need[1](model.label);
  }

  // A note for what goes in another form than attached: a PDF to a model that reads no files.
  note(kind) {
    const model = this.model();
    if (kind !== 'pdf' || !model || model.abilities.files) return '';
    return gettext('sent as text: %(model)s does not read files', { model: model.label });
  }

  add(files) {
    for (const file of files) {
      const kind = this.kindOf(file);
      const item = { file, kind, url: null, status: 'uploading', id: null, el: null, blocked: null };
      let problem = null;
      if (!kind) problem = gettext('not a file chatsite takes (PNG, JPEG, GIF or WebP images, PDF or text files, WAV or MP3)');
      else if (file.size > this.maxBytes) problem = gettext('larger than the %(size)s limit', { size: formatBytes(this.maxBytes) });
      else problem = this.refusal(kind);
      if (!problem && kind === 'image') item.url = URL.createObjectURL(file);
      this.items.push(item);
      this.render(item);
      if (problem) this.fail(item, problem);
      else this.upload(item);
    }
    this.changed();
  }

  async upload(item) {
    try {
      const data = await uploadFile(this.uploadUrl, item.file);
      item.id = data.id;
      item.status = 'ready';
      item.el.classList.remove('is-uploading');
    } catch (err) {
      this.fail(item, err.message);
    }
    this.recheck();
  }

  fail(item, message) {
    item.status = 'error';
    item.el.classList.remove('is-uploading');
    item.el.classList.add('has-error');
    item.el.querySelector('.attachment-error').textContent = gettext('%(name)s: %(problem)s', { name: item.file.name || gettext('File'), problem: message });
  }

  // After a change of model: mark what it cannot take (and clear what it now can).
  recheck() {
    for (const item of this.items) {
      if (item.status === 'error') continue;
      item.blocked = this.refusal(item.kind);
      item.el.classList.toggle('has-error', Boolean(item.blocked));
      item.el.querySelector('.attachment-error').textContent = item.blocked ? gettext('%(name)s: %(problem)s', { name: item.file.name || gettext('File'), problem: item.blocked }) : '';
      const note = item.el.querySelector('.attachment-note');
      if (note) note.textContent = this.note(item.kind);
    }
    this.changed();
  }

  render(item) {
    const el = document.createElement('div');
    el.className = 'attachment-pending is-uploading';
    el.dataset.kind = item.kind || '';
    if (item.url) {
      const img = document.createElement('img');
      img.className = 'attachment-thumb';
      img.src = item.url;
      img.alt = item.file.name || gettext('Pasted image');
      el.append(img);
    } else {
      const chip = document.createElement('span');
      chip.className = 'attachment-chip';
      const name = document.createElement('span');
      name.className = 'attachment-name';
      name.textContent = item.file.name || gettext('File');
      const info = document.createElement('span');
      info.className = 'attachment-info';
      info.textContent = `${KIND_LABELS[item.kind] || gettext('File')} · ${formatBytes(item.file.size)}`;
      const note = document.createElement('span');
      note.className = 'attachment-note';
      note.textContent = this.note(item.kind);
      chip.append(name, info, note);
      el.append(chip);
    }
    const error = document.createElement('span');
    error.className = 'attachment-error';
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'attachment-remove';
    remove.textContent = '×';
    remove.setAttribute('aria-label', item.file.name ? gettext('Remove %(name)s', { name: item.file.name }) : gettext('Remove the file'));
    remove.addEventListener('click', () => this.remove(item));
    el.append(error, remove);
    item.el = el;
    this.tray.append(el);
  }

  remove(item) {
    this.items = this.items.filter((i) => i !== item);
    item.el.remove();
    if (item.url) URL.revokeObjectURL(item.url);
    this.changed();
  }

  get uploading() {
    return this.items.some((i) => i.status === 'uploading');
  }

  get readyIds() {
    return this.items.filter((i) => i.status === 'ready' && !i.blocked).map((i) => i.id);
  }

  // The first reason the chosen model cannot take what is in the tray, or null.
  get blockedReason() {
    return this.items.find((i) => i.blocked && i.status !== 'error')?.blocked || null;
  }

  get isEmpty() {
    return this.items.length === 0;
  }

  // Hand the items over on send; they come back with restore() if the send is refused.
  take() {
    const taken = this.items;
    this.items = [];
    for (const item of taken) item.el.remove();
    this.changed();
    return taken;
  }

  restore(items) {
    for (const item of items) {
      this.items.push(item);
      this.tray.append(item.el);
    }
    this.recheck();
  }

  static release(items) {
    for (const item of items) if (item.url) URL.revokeObjectURL(item.url);
  }

  changed() {
    this.tray.hidden = this.items.length === 0;
    this.onChange();
  }
}

// Files dropped or pasted anywhere on the page go to `onFiles`.
export function acceptDroppedAndPastedFiles(onFiles) {
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
  let depth = 0; // dragenter/dragleave fire for every child element crossed
  document.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth += 1;
    document.body.classList.add('is-dragging');
  });
  document.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) document.body.classList.remove('is-dragging');
  });
  document.addEventListener('dragover', (e) => {
    if (hasFiles(e)) e.preventDefault(); // allows the drop
  });
  document.addEventListener('drop', (e) => {
    depth = 0;
    document.body.classList.remove('is-dragging');
    if (!hasFiles(e)) return;
    e.preventDefault(); // otherwise the browser navigates to the file
    onFiles([...e.dataTransfer.files]);
  });
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (!files.length || e.target.closest?.('.message-edit')) return; // edits take text only
    // Keep ordinary text paste working when the clipboard also has text.
    if (!e.clipboardData.getData('text/plain')) e.preventDefault();
    onFiles(files);
  });
}
