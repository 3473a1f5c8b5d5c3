// Keyboard shortcuts on the chat page, and the dialog that lists them (its words are in
// chat.html). The keys stay clear of those browsers keep for themselves (Ctrl+N/T/W, Ctrl+L,
// Shift+Esc, Chrome's task manager): Ctrl (⌘ on a Mac) with Shift for the page-wide ones,
// single keys only when the reader is not typing in a text box.

const MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

// key: KeyboardEvent.key, lower-cased for letters. mod: Ctrl, or ⌘ on a Mac. typing: also works
// while typing in a text box. aria: the aria-keyshortcuts value of the control it stands for.
const SHORTCUTS = [
  { action: 'newChat', key: 'o', mod: true, shift: true, typing: true, aria: 'Shift+O' },
  { action: 'search', key: 'k', mod: true, shift: false, typing: true },
  { action: 'toggleSidebar', key: 's', mod: true, shift: true, typing: true, aria: 'Shift+S' },
  { action: 'focusComposer', key: '/', typing: false, aria: '/' },
  { action: 'stop', key: 'Escape', typing: true, aria: 'Escape' },
  { action: 'help', key: '?', typing: false, aria: '?' },
];

const TEXT_INPUTS = /^(text|search|email|url|tel|password|number|date|datetime-local|month|time|week)$/;

function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') return true;
  return target.tagName === 'INPUT' && TEXT_INPUTS.test(target.type);
}

// The letter pressed, also on a keyboard whose letters are not Latin (then by its position).
function keyOf(e) {
  if (e.key.length === 1 && /[^\x20-\x7e]/.test(e.key) && /^Key[A-Z]$/.test(e.code)) return e.code.slice(3).toLowerCase();
  return e.key.length === 1 ? e.key.toLowerCase() : e.key;
}

function matches(e, shortcut) {
  const mod = MAC ? e.metaKey : e.ctrlKey;
  const other = MAC ? e.ctrlKey : e.metaKey;
  if (keyOf(e) !== shortcut.key || e.altKey || other || mod !== Boolean(shortcut.mod)) return false;
  // Shift matters with Ctrl; for a printed key ("?") it is part of how the key is typed.
  return !shortcut.mod || e.shiftKey === shortcut.shift;
}

// actions: {newChat, search, toggleSidebar, focusComposer, stop, help}, each a function;
// canStop() → whether an answer is streaming. controls: {action: element} get aria-keyshortcuts.
export function keyboardShortcuts({ actions, canStop, controls = {} }) {
  document.addEventListener('keydown', (e) => {
    // Already handled (an edit's Escape, the drawer's), or a dialog is open: the dialog's keys.
    if (e.defaultPrevented || e.isComposing || document.querySelector('dialog[open]')) return;
    const shortcut = SHORTCUTS.find((s) => matches(e, s));
    if (!shortcut || (!shortcut.typing && isTyping(e.target))) return;
    if (shortcut.action === 'stop' && !canStop()) return;
    e.preventDefault();
    actions[shortcut.action]();
  });
  const modName = MAC ? 'Meta' : 'Control';
  for (const shortcut of SHORTCUTS) {
    const control = controls[shortcut.action];
    if (control && shortcut.aria) control.setAttribute('aria-keyshortcuts', shortcut.mod ? `${modName}+${shortcut.aria}` : shortcut.aria);
  }
  if (MAC) for (const kbd of document.querySelectorAll('kbd.mod-key')) kbd.textContent = '⌘';
}

// The list of shortcuts: a modal dialog, opened by `?` or its button, closed by Esc or Close.
export function shortcutsDialog(dialog, button) {
  const open = () => {
    if (!dialog.open) dialog.showModal();
  };
  button.addEventListener('click', open);
  return { open };
}

// Search is another part of the page's: it listens for `chatsite:search`, or gives its box the id
// search-input, which is then focused.
export function startSearch() {
  const wanted = document.dispatchEvent(new CustomEvent('chatsite:search', { cancelable: true }));
  const input = document.getElementById('search-input');
  if (wanted && input) {
    input.focus();
    input.select?.();
  }
}
