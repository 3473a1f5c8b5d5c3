// A conversation opened at one message (a search result: ?at=<message id>&q=<words>). The page
// holds the messages around it; newer ones come as the reader scrolls down (older ones as
// always: chat.js), put after the last one loaded and before any that arrived live since. The
// message is scrolled to, outlined, and the searched words marked in it.
import { h } from './dom.js';

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Wrap each match of the words in the element's text in <mark>, text node by text node: the
// rendered message is not parsed again.
function markWords(root, words) {
  if (!words.length) return;
  const pattern = new RegExp([...words].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'giu');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const text = node.data;
    const parts = [];
    let at = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > at) parts.push(text.slice(at, match.index));
      parts.push(h('mark', { text: match[0] }));
      at = match.index + match[0].length;
    }
    if (!parts.length) continue;
    if (at < text.length) parts.push(text.slice(at));
    node.replaceWith(...parts);
  }
}

// config: the page's (at, has_newer, messages, older_url). Returns whether the page was opened
// at a message (then the caller does not scroll to the bottom).
export function openAtMessage({ config, messages, scroller, conversationId, getJSON, showError, onLoaded }) {
  if (!config.at || !messages.get(config.at)) return false;
  const found = messages.get(config.at);
  const words = (new URLSearchParams(location.search).get('q') || '').split(/\s+/).filter(Boolean);
  markWords(found.body, words);
  found.el.classList.add('is-found');
  found.el.scrollIntoView({ block: 'center' });

  let hasNewer = config.has_newer;
  let edge = config.messages.at(-1)?.id; // the newest message loaded by paging
  let loading = false;
  const more = async () => {
    if (!hasNewer || loading || !edge) return;
    if (scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight > 300) return;
    loading = true;
    try {
      const url = `${config.older_url.replace('00000000-0000-0000-0000-000000000000', conversationId())}?after=${encodeURIComponent(edge)}`;
      const answer = await getJSON(url);
      messages.insertAfter(edge, answer.messages);
      edge = answer.messages.at(-1)?.id ?? edge;
      hasNewer = answer.has_newer;
      onLoaded();
    } catch (err) {
      showError(err.message);
      hasNewer = false;
    } finally {
      loading = false;
    }
  };
  scroller.addEventListener('scroll', more, { passive: true });
  return true;
}
