// Images attached in the composer: checked, uploaded at once, previewed from a blob: URL
// until the message is sent. Files come from the picker, drag and drop, or paste.
import { uploadFile } from './net.js';

const formatBytes = (n) => (n >= 1048576 ? `${+(n / 1048576).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`);

export class AttachmentTray {
  constructor(tray, { uploadUrl, maxBytes, types, onChange }) {
    this.tray = tray;
    this.uploadUrl = uploadUrl;
    this.maxBytes = maxBytes;
    this.types = types;
    this.onChange = onChange;
    this.items = []; // {file, url, status: 'uploading'|'ready'|'error', id, el}
  }

  add(files) {
    for (const file of files) {
      const item = { file, url: null, status: 'uploading', id: null, el: null };
      // A quick check here saves an upload; the server checks again and has the last word.
      let problem = null;
      if (!this.types.includes(file.type)) problem = 'not a supported image (PNG, JPEG, GIF or WebP)';
      else if (file.size > this.maxBytes) problem = `larger than the ${formatBytes(this.maxBytes)} limit`;
      if (!problem) item.url = URL.createObjectURL(file);
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
    this.changed();
  }

  fail(item, message) {
    item.status = 'error';
    item.el.classList.remove('is-uploading');
    item.el.classList.add('has-error');
    item.el.querySelector('.attachment-error').textContent = `${item.file.name || 'Image'}: ${message}`;
  }

  render(item) {
    const el = document.createElement('div');
    el.className = 'attachment-pending is-uploading';
    if (item.url) {
      const img = document.createElement('img');
      img.className = 'attachment-thumb';
      img.src = item.url;
      img.alt = item.file.name || 'Pasted image';
      el.append(img);
    }
    const error = document.createElement('span');
    error.className = 'attachment-error';
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'attachment-remove';
    remove.textContent = '×';
    remove.setAttribute('aria-label', `Remove ${item.file.name || 'image'}`);
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
    return this.items.filter((i) => i.status === 'ready').map((i) => i.id);
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
    this.changed();
  }

  static release(items) {
    for (const item of items) if (item.url) URL.revokeObjectURL(item.url);
  }

  changed() {
    this.tray.hidden = this.items.length === 0;
    this.onChange();
  }
}

// Image files dropped or pasted anywhere on the page go to `onFiles`.
export function acceptDroppedAndPastedImages(onFiles) {
  const images = (list) => [...(list || [])].filter((f) => f.type.startsWith('image/'));
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
    const files = images(e.clipboardData?.files);
    if (!files.length || e.target.closest?.('.message-edit')) return; // edits take text only
    // Keep ordinary text paste working when the clipboard also has text.
    if (!e.clipboardData.getData('text/plain')) e.preventDefault();
    onFiles(files);
  });
}
