// Model output → safe DOM: marked renders Markdown, DOMPurify strips anything active,
// highlight.js colours code blocks, each block gets a Copy button, and maths is typeset
// (js/math.js).
import { Marked } from '../vendor/marked-18.2.1/lib/marked.esm.js';
import DOMPurify from '../vendor/dompurify-3.4.18/dist/purify.es.mjs';
import hljs from '../vendor/highlightjs-11.12.0/es/highlight.min.js';
import { escapeHTML } from './dom.js';
import { gettext } from './i18n.js';
import { mathExtensions, typesetMath } from './math.js';

const marked = new Marked({ gfm: true, breaks: false, async: false });
marked.use({ extensions: mathExtensions });
marked.use({
  renderer: {
    // Raw HTML in an answer is shown as text, as the model wrote it. DOMPurify would make it
    // inert anyway, but parsing it trips CSP reports, and a model writing `<div>` in prose
    // usually means the characters, not an element.
    html({ text, block }) {
      return block ? `<p>${escapeHTML(text)}</p>` : escapeHTML(text);
    },
    // Images would load from wherever the model points (and are forbidden below anyway):
    // show them as a plain link instead so the reader can decide.
    image({ href, text }) {
      return `<a href="${escapeHTML(href)}">${escapeHTML(text || href)}</a>`;
    },
  },
});

// Our own instance, so these hooks do not leak into any other user of DOMPurify.
const purify = DOMPurify(window);
const PURIFY_CONFIG = {
  FORBID_TAGS: [
    'img', 'style', 'iframe', 'form', 'input', 'button', 'textarea', 'select', 'option',
    'svg', 'math', 'video', 'audio', 'source', 'picture', 'object', 'embed', 'link', 'meta', 'base', 'dialog',
  ],
  // id/name could shadow the page's own ids (#send-button…) for scripts and tests.
  FORBID_ATTR: ['style', 'id', 'name', 'srcset', 'autofocus', 'tabindex'],
  RETURN_DOM_FRAGMENT: true,
};
purify.addHook('uponSanitizeAttribute', (node, data) => {
  // Keep only marked's `language-x` classes; others could borrow the page's styling.
  if (data.attrName === 'class') {
    data.attrValue = data.attrValue.split(/\s+/).filter((c) => /^language-[\w+#.-]+$/.test(c)).join(' ');
    if (!data.attrValue) data.keepAttr = false;
  }
});
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

const languageOf = (code) => (code.className.match(/language-([\w+#.-]+)/) || [])[1] || '';

export function renderMarkdown(text) {
  // DOMPurify's fragment belongs to its own inert document: adopted into the page's first, so
  // the maths' styles (set through the CSSOM) are never carried from one document to another.
  const fragment = document.createDocumentFragment();
  fragment.append(purify.sanitize(marked.parse(text || ''), PURIFY_CONFIG));
  typesetMath(fragment);
  for (const pre of fragment.querySelectorAll('pre')) {
    const code = pre.querySelector('code');
    if (!code) continue;
    const lang = languageOf(code);
    // Unlabelled blocks stay plain: guessing runs every grammar on each streamed frame,
    // and guesses on short snippets are often wrong.
    if (lang && hljs.getLanguage(lang)) hljs.highlightElement(code);
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy-code';
    copy.textContent = gettext('Copy');
    const label = document.createElement('span');
    label.className = 'code-lang';
    label.textContent = lang;
    const header = document.createElement('div');
    header.className = 'code-header';
    header.append(label, copy);
    const block = document.createElement('div');
    block.className = 'code-block';
    pre.replaceWith(block);
    block.append(header, pre);
  }
  return fragment;
}

// The Clipboard API needs a secure context (https or localhost); fall back to execCommand.
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the old way
    }
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'visually-hidden';
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}
