// An answer's citations (the web pages a search-backed model cited): a numbered list under
// the answer. Titles and URLs are the model's, so they go in as text; only http(s) URLs
// become links, so a `javascript:` or `data:` URL can never be followed.

export function safeHref(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

function item(cited, number) {
  const li = document.createElement('li');
  const href = safeHref(cited.url);
  const title = cited.title || cited.url;
  if (href) {
    const a = document.createElement('a');
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.textContent = title;
    li.append(a);
    if (cited.title) {
      const host = document.createElement('span');
      host.className = 'citation-host';
      host.textContent = new URL(href).host;
      li.append(' ', host);
    }
  } else {
    // Not a web address: shown, never linked.
    li.className = 'citation-unlinked';
    li.textContent = cited.title ? `${cited.title} (${cited.url})` : cited.url;
  }
  li.value = number;
  return li;
}

// box: the answer's citations element; citations: [{url, title, start_index, end_index}].
// Called per frame, it only adds the citations that are new since the last call.
export function renderCitations(box, citations) {
  const list = box.querySelector('ol');
  const shown = list.children.length;
  if (citations.length < shown) list.replaceChildren();
  for (let i = list.children.length; i < citations.length; i += 1) list.append(item(citations[i], i + 1));
  box.hidden = citations.length === 0;
}
