// The reader's display preferences, kept in this browser (localStorage): the theme (light,
// dark, or the system's) and whether the conversation list is hidden. A classic script loaded
// in <head> after the stylesheets, not a module: modules run only after the page is parsed, and
// the page would first paint in the wrong theme. The chat's modules use it through
// window.chatsitePreferences, so the storage keys live here only.
(() => {
  const KEYS = { theme: 'chatsite.theme', sidebar: 'chatsite.sidebar' };
  const THEMES = ['system', 'light', 'dark'];
  const root = document.documentElement;

  // localStorage throws where storage is blocked (some private modes): then nothing is kept.
  const read = (key) => {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  };
  const write = (key, value) => {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch {
      // kept for this page only
    }
  };

  const storedTheme = () => (THEMES.includes(read(KEYS.theme)) ? read(KEYS.theme) : 'system');

  function applyTheme(theme) {
    root.dataset.theme = theme; // chat.css: light, dark, or (system) light-dark() as the OS says
    // Stylesheets that come in a light and a dark version (highlight.js's) say which they are
    // with data-theme-variant: the one for the theme applies.
    for (const link of document.querySelectorAll('link[data-theme-variant]')) {
      const variant = link.dataset.themeVariant;
      if (theme === 'system') link.media = `(prefers-color-scheme: ${variant})`;
      else link.media = theme === variant ? 'all' : 'not all';
    }
    const select = document.getElementById('theme-select');
    if (select) select.value = theme;
  }

  function applySidebar(hidden) {
    if (hidden) root.dataset.sidebar = 'hidden';
    else delete root.dataset.sidebar;
  }

  applyTheme(storedTheme());
  applySidebar(read(KEYS.sidebar) === 'hidden');

  window.chatsitePreferences = {
    get theme() {
      return root.dataset.theme;
    },
    setTheme(theme) {
      if (!THEMES.includes(theme)) return;
      write(KEYS.theme, theme === 'system' ? null : theme);
      applyTheme(theme);
    },
    // On a wide screen the conversation list can be hidden; a phone's drawer is not this.
    get sidebarHidden() {
      return root.dataset.sidebar === 'hidden';
    },
    setSidebarHidden(hidden) {
      write(KEYS.sidebar, hidden ? 'hidden' : null);
      applySidebar(hidden);
    },
  };

  // The language switch posts its form as soon as a language is picked (its button is only
  // for browsers without scripts); listened for on the document, so a pick made while the page
  // is still loading counts too.
  document.addEventListener('change', (e) => {
    if (e.target.id === 'language-select') e.target.form.requestSubmit();
  });
  document.addEventListener('DOMContentLoaded', () => {
    const select = document.getElementById('theme-select');
    if (!select) return;
    select.value = root.dataset.theme;
    select.addEventListener('change', () => window.chatsitePreferences.setTheme(select.value));
  });
  // Another tab of this site changed a preference: follow it.
  window.addEventListener('storage', (e) => {
    if (e.key === KEYS.theme) applyTheme(storedTheme());
  });
})();
