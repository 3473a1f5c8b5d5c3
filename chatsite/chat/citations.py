"""An answer's citations: one per URL, and a bounded number of them."""

MAX_CITATIONS = 50  # more would be a misbehaving gateway, not a better answer


def add_citations(known: list[dict], new: tuple[dict, ...] | list[dict]) -> list[dict]:
    """Add the citations in new whose URL is not yet in known (in place); return those added.

    Gateways repeat a URL for each span that cites it, and some send the whole list again in
    the final chunk: the first span seen for a URL is the one kept.
    """
    seen = {cited["url"] for cited in known}
    added = []
    for cited in new:
        if len(known) >= MAX_CITATIONS:
            break
        if cited["url"] not in seen:
            seen.add(cited["url"])
            known.append(cited)
            added.append(cited)
    return added
