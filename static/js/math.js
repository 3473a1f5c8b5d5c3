// Maths in answers, typeset by KaTeX: inline between $…$ or \(…\), displayed between $$…$$ or
// \[…\]. marked finds it (mathExtensions: code spans and blocks stay code) and leaves a
// placeholder holding the TeX; after the Markdown is sanitized, typesetMath() puts KaTeX's
// output there, rendered with trust: false (no \href, \url, \includegraphics, \html…) and
// sanitized again with a configuration of its own.
//
// When a `$` is maths (Pandoc's rule, so that prices stay text): the opening `$` is followed by
// a character that is not a space, the closing `$` follows one that is not a space and is not
// followed by a digit, both are on one line and no backtick comes between them (a `code span`
// is not maths). "it costs $5 and $6" has no closing `$` (a space comes before the second) and
// stays text, as does "$5-$10" (a digit follows); `\$` is always a dollar sign.
import katex from '../vendor/katex-0.19.1/katex.mjs';
import DOMPurify from '../vendor/dompurify-3.4.18/dist/purify.es.mjs';
import { escapeHTML } from './dom.js';

const INLINE = [
  { pattern: /^\$\$((?:\\[\s\S]|[^\\$])+?)\$\$/, display: true },
  { pattern: /^\\\[([\s\S]+?)\\\]/, display: true },
  { pattern: /^\\\(([\s\S]+?)\\\)/, display: false },
  { pattern: /^\$(?![\s$])((?:\\.|[^\\$\n`])+?)(?<!\s)\$(?!\d)/, display: false },
];
const BLOCK = /^ {0,3}(?:\$\$((?:\\[\s\S]|[^\\$])+?)\$\$|\\\[([\s\S]+?)\\\])[ \t]*(?:\n+|$)/;

const placeholder = (tag, tex, display) => `<${tag} data-math="${display ? 'display' : 'inline'}">${escapeHTML(tex)}</${tag}>`;

export const mathExtensions = [
  {
    name: 'mathBlock',
    level: 'block',
    start: (src) => src.match(/^ {0,3}(?:\$\$|\\\[)/m)?.index,
    tokenizer(src) {
      const match = BLOCK.exec(src);
      if (match) return { type: 'mathBlock', raw: match[0], text: (match[1] ?? match[2]).trim() };
    },
    renderer: (token) => placeholder('div', token.text, true),
  },
  {
    name: 'mathInline',
    level: 'inline',
    start: (src) => {
      const at = src.search(/\$|\\[([]/);
      return at < 0 ? undefined : at;
    },
    tokenizer(src) {
      for (const { pattern, display } of INLINE) {
        const match = pattern.exec(src);
        if (match) return { type: 'mathInline', raw: match[0], text: match[1].trim(), display };
      }
    },
    renderer: (token) => placeholder('span', token.text, token.display),
  },
];

const KATEX_OPTIONS = {
  throwOnError: false, // a mistake shows the TeX, marked, instead of failing the answer
  errorColor: 'var(--danger)', // readable in either theme
  trust: false,
  strict: 'ignore',
  maxSize: 20, // em: \rule{1000em}{1000em} cannot cover the page
  maxExpand: 1000, // macro expansions: a self-expanding \def stops
  output: 'htmlAndMathml', // the MathML is what screen readers read
};
const MAX_TEX = 5000; // characters; longer TeX is shown as written

const purify = DOMPurify(window); // its own instance: none of markdown.js's hooks apply
const PURIFY_CONFIG = {
  USE_PROFILES: { html: true, mathMl: true, svg: true },
  // KaTeX's MathML wraps the formula in <semantics> with the TeX as an <annotation>.
  ADD_TAGS: ['semantics', 'annotation'],
  FORBID_TAGS: [
    'a', 'img', 'image', 'use', 'foreignObject', 'style', 'script', 'iframe', 'form', 'input', 'button',
    'textarea', 'select', 'video', 'audio', 'source', 'picture', 'link', 'meta', 'base', 'dialog', 'object', 'embed',
  ],
  FORBID_ATTR: ['style', 'id', 'name', 'href', 'xlink:href', 'src', 'srcset', 'tabindex', 'autofocus', 'action'],
  ALLOW_DATA_ATTR: false,
  ADD_ATTR: ['data-katex-style'],
  ADD_URI_SAFE_ATTR: ['data-katex-style'], // not a URL: "height:1em" would look like one to DOMPurify
  RETURN_DOM_FRAGMENT: true,
};

// The page's CSP (style-src 'self') refuses style attributes, and KaTeX positions everything
// with them. So they travel as data-katex-style through the sanitizer and are then set through
// the CSSOM, which CSP allows, and only for the properties KaTeX writes (its CssStyle type).
const KATEX_PROPERTIES = new Set([
  'background-color', 'border-bottom-width', 'border-color', 'border-right-style', 'border-right-width',
  'border-top-width', 'border-style', 'border-width', 'bottom', 'color', 'height', 'left', 'margin',
  'margin-left', 'margin-right', 'margin-top', 'min-width', 'padding-left', 'position', 'text-shadow',
  'top', 'width', 'vertical-align',
]);

function applyStyles(root) {
  for (const el of root.querySelectorAll('[data-katex-style]')) {
    for (const declaration of el.dataset.katexStyle.split(';')) {
      const at = declaration.indexOf(':');
      const name = declaration.slice(0, at).trim();
      const value = declaration.slice(at + 1).trim();
      if (!KATEX_PROPERTIES.has(name) || /url\(|\\/i.test(value)) continue;
      if (name === 'position' && value !== 'relative') continue;
      el.style.setProperty(name, value);
    }
    el.removeAttribute('data-katex-style');
  }
  for (const el of root.querySelectorAll('[data-katex-mask]')) {
    el.style.setProperty('mask-image', el.dataset.katexMask);
    el.removeAttribute('data-katex-mask');
  }
}

// KaTeX draws square roots, stretchy arrows and braces as inline SVG. Model output brings no
// SVG into the page: each becomes a span painted in the text colour through a mask made of
// that (sanitized) SVG as an image, which cannot run anything.
function svgAsMask(svg) {
  const copy = svg.cloneNode(true);
  copy.removeAttribute('width'); // the span's size is the image's: its viewBox does the rest
  copy.removeAttribute('height');
  for (const line of copy.querySelectorAll('line')) line.setAttribute('stroke', '#000'); // KaTeX's CSS strokes them
  const span = document.createElement('span');
  span.className = 'katex-svg';
  span.dataset.katexMask = `url("data:image/svg+xml,${encodeURIComponent(new XMLSerializer().serializeToString(copy))}")`;
  return span;
}

function typeset(tex, display) {
  const fragment = document.createDocumentFragment();
  let html = null;
  if (tex.length <= MAX_TEX) {
    try {
      html = katex.renderToString(tex, { ...KATEX_OPTIONS, displayMode: display });
    } catch {
      html = null; // not TeX KaTeX can read even leniently (throwOnError covers the rest)
    }
  }
  if (html === null) {
    const code = document.createElement('code');
    code.textContent = display ? `$$${tex}$$` : `$${tex}$`;
    fragment.append(code);
    return fragment;
  }
  // KaTeX escapes quotes in text and attribute values, so ` style="` is only ever an attribute.
  fragment.append(purify.sanitize(html.replaceAll(' style="', ' data-katex-style="'), PURIFY_CONFIG));
  for (const svg of fragment.querySelectorAll('svg')) svg.replaceWith(svgAsMask(svg));
  return fragment;
}

// A streaming answer is rendered again on every frame: each formula is typeset once.
const typesetCache = new Map();
const CACHE_SIZE = 500;

function mathNode(tex, display) {
  const key = `${display ? 'D' : 'I'}${tex}`;
  let template = typesetCache.get(key);
  if (!template) {
    template = typeset(tex, display);
    if (typesetCache.size >= CACHE_SIZE) typesetCache.delete(typesetCache.keys().next().value);
    typesetCache.set(key, template);
  }
  const node = template.cloneNode(true);
  applyStyles(node);
  return node;
}

// Replace the placeholders marked left in a sanitized fragment with the typeset maths.
export function typesetMath(root) {
  for (const el of root.querySelectorAll('[data-math]')) {
    el.replaceWith(mathNode(el.textContent, el.dataset.math === 'display'));
  }
}
