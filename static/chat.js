// The chat page: shows one conversation and streams its answers over the websocket
// (docs/websocket.md). This module only wires the parts in ./js/ together and holds which
// conversation is shown.
import { getJSON, postJSON } from './js/net.js';
import { gettext } from './js/i18n.js';
import { AttachmentTray } from './js/attachments.js';
import { errorBanner } from './js/banner.js';
import { MessageList } from './js/messages.js';
import { messageActions, syncActions } from './js/message-actions.js';
import { ChatProtocol } from './js/protocol.js';
import { Composer } from './js/composer.js';
import { Sidebar } from './js/sidebar.js';
import { sidebarToggle } from './js/sidebar-toggle.js';
import { Keeper } from './js/folders.js';
import { archivedView } from './js/archived.js';
import { ModelPicker } from './js/models.js';
import { showContextUsage } from './js/context-usage.js';
import { showBudget } from './js/budget.js';
import { settingsPanel } from './js/settings.js';
import { Announcer } from './js/announcer.js';
import { keyboardShortcuts, shortcutsDialog, startSearch } from './js/shortcuts.js';
import { searchBox } from './js/search.js';
import { openAtMessage } from './js/message-window.js';

const config = JSON.parse(document.getElementById('chat-config').textContent);
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const $ = (id) => document.getElementById(id);

let conversation = config.conversation; // {id, title, model, …}, or null for a new chat
const conversationId = () => conversation?.id ?? null;

const banner = errorBanner($('error-banner'));
const announcer = new Announcer($('announcer'));
const messages = new MessageList($('messages'));
const picker = new ModelPicker($('model-select'), config.models);
const sidebar = new Sidebar($('conversation-list'), {
  currentId: conversationId,
  onRenamed: (conv) => updateConversation(conv),
  showError: banner.show,
});
const keeper = new Keeper($('kept'), sidebar, { showError: banner.show });
archivedView({ button: $('archived-button'), dialog: $('archived-dialog'), keeper, sidebar });
const tray = new AttachmentTray($('attachment-tray'), {
  uploadUrl: config.upload_url,
  maxBytes: config.max_upload_bytes,
  types: config.allowed_image_types,
  textExtensions: config.text_extensions,
  model: () => picker.current,
  onChange: () => updateControls(),
});
const protocol = new ChatProtocol({
  path: config.ws_path,
  maxFrameBytes: config.max_frame_bytes,
  maxMessageChars: config.max_message_chars,
  messages,
  status: $('connection-status'),
  conversationId,
  showError: banner.show,
  onConversation: (conv) => updateConversation(conv),
  onCreated: (conv) => showNewConversation(conv),
  onBudget: (entries) => showBudget($('budget-left'), entries),
  onChange: () => updateControls(),
});
const composer = new Composer(
  { form: $('composer'), input: $('composer-input'), send: $('send-button'), stop: $('stop-button'), attach: $('attach-button'), attachInput: $('attach-input') },
  {
    tray,
    protocol,
    messages,
    conversationId,
    currentModel: () => picker.value,
    showError: banner.show,
    hideError: banner.hide,
    onSent: (id) => sidebar.moveToTop(id),
    onChange: () => updateControls(),
  },
);
messageActions(messages, { send: (frame) => protocol.send(frame), conversationId, onChange: () => updateControls(), announcer });
const sidebarShown = sidebarToggle($('sidebar-toggle'), $('sidebar-backdrop'));
const help = shortcutsDialog($('shortcuts-dialog'), $('shortcuts-button'));
searchBox();
// Ctrl/⌘+K: the box is in the sidebar, which must be showing to take the focus.
document.addEventListener('chatsite:search', () => sidebarShown.open());
keyboardShortcuts({
  actions: {
    // A new chat is the page without a conversation; on it already, go to its message box.
    newChat: () => (conversation ? location.assign(sidebar.list.dataset.indexUrl) : $('composer-input').focus()),
    search: startSearch,
    toggleSidebar: () => sidebarShown.toggle(),
    focusComposer: () => $('composer-input').focus(),
    stop: () => $('stop-button').click(),
    help: () => help.open(),
  },
  canStop: () => messages.isStreaming,
  controls: {
    newChat: document.querySelector('.new-chat'),
    toggleSidebar: $('sidebar-toggle'),
    focusComposer: $('composer-input'),
    stop: $('stop-button'),
    help: $('shortcuts-button'),
  },
});

// Everything that depends on whether an answer is streaming.
function updateControls() {
  const streaming = messages.isStreaming;
  composer.sync(streaming);
  syncActions(messages, streaming);
  $('empty-state').hidden = messages.all.length > 0;
  showContextUsage($('context-usage'), messages.lastAssistant, picker.current);
  announcer.follow(messages);
}

function showTitle() {
  const title = conversation?.title || gettext('New chat');
  $('conversation-title').textContent = title;
  document.title = `${title} · chatsite`;
}

// The server's word on a conversation (a rename, a new title or model): the list, the header
// and, for the shown one, the model picker follow it.
function updateConversation(conv) {
  sidebar.setTitle(conv);
  if (conversation?.id !== conv.id) return;
  conversation = { ...conversation, ...conv };
  showTitle();
  if (conv.model && conv.model !== picker.value) {
    picker.choose(conv.model);
    tray.recheck();
  }
}

// A new chat exists once its first message is sent (the send makes it; the server follows it
// with its messages) or its settings are saved (made here first, then subscribed to).
function showNewConversation(conv) {
  conversation = conv;
  history.replaceState(null, '', sidebar.urlFor('conversation', conv.id));
  sidebar.add(conv);
  showTitle();
}

async function ensureConversation() {
  if (conversation) return;
  showNewConversation(await postJSON(config.create_url, { model: picker.value || null }));
  protocol.subscribe(conversation.id);
}

$('model-select').addEventListener('change', async () => {
  const model = picker.value;
  tray.recheck(); // says what in the tray this model cannot take
  updateControls();
  if (!conversation) return; // a new chat uses it when it is created
  try {
    updateConversation(await postJSON(sidebar.urlFor('model', conversation.id), { model }));
    picker.keep(model);
  } catch (err) {
    picker.revert();
    tray.recheck();
    banner.show(err.message);
  }
});

settingsPanel({
  dialog: $('settings-dialog'),
  button: $('settings-button'),
  optionsUrl: (id) => sidebar.urlFor('options', id),
  currentConversation: () => conversation,
  ensureConversation,
  onSaved: (conv) => updateConversation(conv),
  presets: config.presets,
  presetUrl: config.preset_url,
  tools: config.tools,
  models: config.models,
  currentModel: () => picker.value,
});

// A long conversation opens with its last messages; older ones come as the reader scrolls up.
function olderOnScroll() {
  let hasOlder = config.has_older;
  let loading = false;
  const scroller = $('messages');
  const more = async () => {
    if (!hasOlder || loading || !conversation || scroller.scrollTop > 300) return;
    const oldest = messages.all[0];
    if (!oldest) return;
    loading = true;
    try {
      const url = `${config.older_url.replace(ZERO_UUID, conversation.id)}?before=${encodeURIComponent(oldest.id)}`;
      const answer = await getJSON(url);
      messages.prepend(answer.messages);
      hasOlder = answer.has_older;
      updateControls();
    } catch (err) {
      banner.show(err.message);
    } finally {
      loading = false;
    }
    if (scroller.scrollHeight <= scroller.clientHeight) more(); // not enough to scroll yet
  };
  scroller.addEventListener('scroll', more, { passive: true });
  requestAnimationFrame(more);
}

picker.fill(conversation?.model || config.default_model);
showTitle();
showBudget($('budget-left'), config.budget);
// The conversation's model is no longer one this user may use: say so (the picker offers the others).
if (config.model_unavailable) banner.show(config.model_unavailable);
// A message still streaming when the page was rendered has an unknown seq (-1): the
// snapshot that answers our subscribe replaces its text, and deltas continue from there.
for (const data of config.messages) messages.upsert(data, data.status === 'streaming' ? -1 : 0);
olderOnScroll();
updateControls();
const opened = openAtMessage({
  config, messages, scroller: $('messages'), conversationId, getJSON, showError: banner.show, onLoaded: () => updateControls(),
});
if (!opened) messages.scrollToBottom();
protocol.connect(composer);
