// The sidebar's ⋯ menus (a conversation's, a folder's): a button that opens a list of actions,
// used from the keyboard as from the mouse (arrows, Home and End move, Escape closes and goes
// back to the button, Tab closes), closed by a click anywhere else. One is open at a time.
import { h } from './dom.js';

let open = null; // { button, menu } of the open menu

export function menuButton(label, className = '') {
  return h('button', {
    type: 'button',
    class: `menu-button ${className}`.trim(),
    'aria-haspopup': 'menu',
    'aria-expanded': 'false',
    'aria-label': label,
    title: label,
    text: '⋯',
  });
}

export function isOpenFor(button) {
  return open?.button === button;
}

// items: [{ label, data: { keep: 'pin' } or { action: 'rename' }, danger }]; the data become the
// item's data-* attributes. onChoose(dataset) runs when one is chosen. The menu goes right
// after the button, inside the conversation's <li>, where js/sidebar.js finds the item that
// its Rename and Delete act on.
export function openMenu(button, items, onChoose) {
  closeMenu();
  const menu = h('div', { class: 'popup-menu', role: 'menu', 'aria-label': button.getAttribute('aria-label') });
  for (const item of items) {
    const props = { type: 'button', role: 'menuitem', tabindex: '-1', class: item.danger ? 'is-danger' : null, text: item.label };
    for (const [key, value] of Object.entries(item.data)) props[`data-${key}`] = value;
    menu.append(h('button', props));
  }
  menu.addEventListener('click', (e) => {
    const choice = e.target.closest('[role="menuitem"]');
    if (!choice) return;
    closeMenu({ focus: true });
    onChoose(choice.dataset);
  });
  menu.addEventListener('keydown', onKey);
  button.after(menu);
  button.setAttribute('aria-expanded', 'true');
  open = { button, menu };
  // Near the bottom of the sidebar it opens upwards rather than off the edge.
  const scroller = button.closest('.sidebar');
  if (scroller && menu.getBoundingClientRect().bottom > scroller.getBoundingClientRect().bottom) {
    menu.classList.add('opens-up');
  }
  menu.firstElementChild?.focus();
}

export function closeMenu({ focus = false } = {}) {
  if (!open) return;
  const { button, menu } = open;
  open = null;
  button.setAttribute('aria-expanded', 'false');
  if (focus) button.focus();
  // Hidden now, removed once the click that chose an item has gone on to js/sidebar.js.
  menu.hidden = true;
  setTimeout(() => menu.remove());
}

function onKey(e) {
  const items = [...open.menu.querySelectorAll('[role="menuitem"]')];
  const at = items.indexOf(document.activeElement);
  const go = (index) => items[(index + items.length) % items.length].focus();
  if (e.key === 'ArrowDown') go(at + 1);
  else if (e.key === 'ArrowUp') go(at - 1);
  else if (e.key === 'Home') go(0);
  else if (e.key === 'End') go(items.length - 1);
  else if (e.key === 'Escape') closeMenu({ focus: true });
  else if (e.key === 'Tab') closeMenu({ focus: true }); // and Tab goes on from the button
  else return;
  if (e.key !== 'Tab') e.preventDefault();
  e.stopPropagation(); // Escape closes the menu, not the sidebar's drawer as well
}

document.addEventListener('pointerdown', (e) => {
  if (open && !open.menu.contains(e.target) && !open.button.contains(e.target)) closeMenu();
});
