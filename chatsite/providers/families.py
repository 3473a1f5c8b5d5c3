"""What known model families need that the protocol does not say (more to come: abilities).

Ids are matched with or without a vendor prefix ("o3-mini", "openai/o3-mini").
"""

import re

# OpenAI's reasoning models: o1, o3, o4-mini…
O_SERIES = re.compile(r"^(?:[\w.-]+/)?o\d(?:$|[-.])", re.IGNORECASE)

TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")


def system_role(model_name: str) -> str:
    """The role the system prompt goes in: the o-series wants "developer"."""
    return "developer" if O_SERIES.match(model_name) else "system"


def token_field(model_name: str, learned: str = "") -> str:
    """The field the answer's length limit goes in: what the model was seen to accept, else
    max_completion_tokens for the o-series (which refuse max_tokens), else max_tokens."""
    if learned in TOKEN_FIELDS:
        return learned
    return "max_completion_tokens" if O_SERIES.match(model_name) else "max_tokens"
