// The import form: a file over the size limit is refused before it is sent, and the page says
// it is busy while a large file is read (the server answers when it is all in, or refused).
import { gettext } from './i18n.js';

const form = document.getElementById('import-form');
const input = document.getElementById('import-file');
const error = document.getElementById('import-error');
const busy = document.getElementById('import-busy');
const button = document.getElementById('import-button');
const maxBytes = Number(form.dataset.maxBytes);

const megabytes = (n) => `${+(n / 1048576).toFixed(1)} MB`;

input.addEventListener('change', () => {
  error.hidden = true;
});

form.addEventListener('submit', (e) => {
  const file = input.files[0];
  if (file && file.size > maxBytes) {
    e.preventDefault();
    error.textContent = gettext('The file is larger than %(size)s.', { size: megabytes(maxBytes) });
    error.hidden = false;
    return;
  }
  busy.hidden = false;
  // Disabled after the form's data is taken: a disabled button in the form would not be sent.
  setTimeout(() => {
    button.disabled = true;
  });
});
