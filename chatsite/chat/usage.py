"""Token counts when a provider reports none: a rough estimate, marked as such."""

CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English; close enough to show an order of size


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)  # rounded up: any text is at least one token


def prompt_text(body: dict) -> str:
    """The text of a request's messages (images and files are not counted)."""
    pieces = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            pieces += [part.get("text", "") for part in content if part.get("type") == "text"]
    return "\n".join(pieces)


def estimate_usage(body: dict, written: str) -> tuple[int, int]:
    """(prompt tokens, completion tokens) for a request and what the model wrote."""
    return estimate_tokens(prompt_text(body)), estimate_tokens(written)
