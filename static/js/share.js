// The chat page's Share dialog: the conversation's read-only link for the team (made, brought up
// to now, copied, revoked) and its exports as Markdown or JSON. Standalone: the shown
// conversation is the one in the address (/c/<id>/, which chat.js keeps up to date).
import { getJSON, postJSON } from './net.js';
import { copyText } from './markdown.js';
import { gettext, formatDate } from './i18n.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const $ = (id) => document.getElementById(id);
const button = $('share-button');
const dialog = $('share-dialog');
const q = (selector) => dialog.querySelector(selector);

const urlFor = (kind, id) => button.dataset[`${kind}Url`].replace(ZERO_UUID, id);

function currentId() {
  const match = location.pathname.match(/\/c\/([0-9a-f-]{36})\/$/);
  return match ? match[1] : null;
}

const when = (iso) => formatDate(iso);

function showError(message) {
  q('.share-error').textContent = message;
  q('.share-error').hidden = !message;
}

function status(message) {
  q('.share-status').textContent = message;
}

// The dialog as the server describes it: {share: {url, shared, messages, revoke_url} | null, teams, everyone}.
function show(state) {
  const share = state.share;
  q('.share-audience').textContent = state.everyone
    ? gettext('A link shows this conversation, read only, to everyone who can log in here (you are in no team).')
    : gettext('A link shows this conversation, read only, to the people in your teams: %(teams)s.', { teams: state.teams.join(', ') });
  q('.share-link').hidden = !share;
  q('.share-when').hidden = !share;
  $('share-revoke').hidden = !share;
  $('share-create').textContent = share ? gettext('Update the link to now') : gettext('Create link');
  if (share) {
    $('share-url').value = share.url;
    $('share-revoke').dataset.url = share.revoke_url;
    q('.share-when').textContent = gettext(
      'Shared on %(when)s with its %(count)s messages then; later ones are not in it until you update the link.',
      { when: when(share.shared), count: share.messages },
    );
  }
}

async function open() {
  const id = currentId();
  showError('');
  status('');
  q('.share-none').hidden = Boolean(id);
  for (const el of [q('.share-audience'), q('.share-actions'), q('.share-exports')]) el.hidden = !id;
  q('.share-link').hidden = q('.share-when').hidden = true;
  if (id) {
    $('export-markdown').href = urlFor('markdown', id);
    $('export-json').href = urlFor('json', id);
  }
  dialog.showModal();
  if (!id) return;
  try {
    show(await getJSON(urlFor('share', id)));
  } catch (err) {
    showError(err.message);
  }
}

button.addEventListener('click', open);
q('.share-close').addEventListener('click', () => dialog.close());

$('share-create').addEventListener('click', async () => {
  const id = currentId();
  if (!id) return;
  showError('');
  try {
    const state = await postJSON(urlFor('share', id), {});
    show(state);
    status(gettext('The link shows the conversation as it is now.'));
  } catch (err) {
    showError(err.message);
  }
});

$('share-copy').addEventListener('click', async () => {
  const ok = await copyText($('share-url').value);
  status(ok ? gettext('Link copied.') : gettext('Could not copy: select the link and copy it.'));
});

$('share-revoke').addEventListener('click', async () => {
  showError('');
  try {
    await postJSON($('share-revoke').dataset.url, {});
    show(await getJSON(urlFor('share', currentId())));
    status(gettext('The link is revoked: it shows nothing any more.'));
  } catch (err) {
    showError(err.message);
  }
});
