// Showing and hiding the conversation list. On a phone it is a drawer: the menu button opens it;
// the dimmed page beside it or Escape closes it. On a wider screen the same button (or the
// shortcut) hides it, which js/preferences.js remembers.

const PHONE = window.matchMedia('(max-width: 760px)');

export function sidebarToggle(toggle, backdrop) {
  const prefs = window.chatsitePreferences;
  const isOpen = () => (PHONE.matches ? document.body.classList.contains('sidebar-open') : !prefs.sidebarHidden);
  const setOpen = (open) => {
    if (PHONE.matches) document.body.classList.toggle('sidebar-open', open);
    else prefs.setSidebarHidden(!open);
    toggle.setAttribute('aria-expanded', String(open));
  };
  const sync = () => toggle.setAttribute('aria-expanded', String(isOpen()));
  toggle.addEventListener('click', () => setOpen(!isOpen()));
  backdrop.addEventListener('click', () => setOpen(false));
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !PHONE.matches || !isOpen()) return;
    e.preventDefault(); // handled: the page's Escape (stop the answer) leaves it alone
    setOpen(false);
  });
  PHONE.addEventListener('change', sync);
  sync();
  return { toggle: () => setOpen(!isOpen()), open: () => isOpen() || setOpen(true) };
}
