"""What known model families need and can do that the protocol does not say.

Ids are matched with or without a vendor prefix ("o3-mini", "openai/o3-mini").
"""

import re

# OpenAI's reasoning models: o1, o3, o4-mini…
O_SERIES = re.compile(r"^(?:[\w.-]+/)?o\d(?:$|[-.])", re.IGNORECASE)

TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")

# A model nobody describes: what a miss costs decides each default. Images, tools, JSON mode
# and logprobs are widely taken; a model that refuses them answers with a clear provider
# error (or simply sends no logprobs). Audio, file parts, web search and reasoning effort are
# rarer and make strict providers fail the whole request; files still reach such a model as
# extracted text. An admin can correct any of it.
UNKNOWN = {
    "vision": True,
    "tools": True,
    "reasoning": False,
    "json": True,
    "logprobs": True,
    "audio": False,
    "files": False,
    "web_search": False,
    "context_length": None,
    "max_output": None,
}

_TEXT = {**UNKNOWN, "vision": False}

# (pattern on the id without its vendor prefix, abilities); the first match wins, so the more
# specific patterns come first. Figures are the vendors' published ones.
FAMILIES: list[tuple[re.Pattern, dict]] = [
    (re.compile(p, re.IGNORECASE), abilities)
    for p, abilities in [
        (
            r"^gpt-4o(?:-mini)?-search",
            {**UNKNOWN, "web_search": True, "logprobs": False, "context_length": 128_000, "max_output": 16_384},
        ),
        (r"^gpt-4o(?:-mini)?-audio", {**UNKNOWN, "audio": True, "context_length": 128_000, "max_output": 16_384}),
        (r"^gpt-4o", {**UNKNOWN, "files": True, "context_length": 128_000, "max_output": 16_384}),
        (r"^gpt-4\.1", {**UNKNOWN, "files": True, "context_length": 1_047_576, "max_output": 32_768}),
        (
            r"^gpt-5",
            {
                **UNKNOWN,
                "reasoning": True,
                "files": True,
                "logprobs": False,
                "context_length": 400_000,
                "max_output": 128_000,
            },
        ),
        (r"^gpt-3\.5", {**_TEXT, "context_length": 16_385, "max_output": 4_096}),
        (
            r"^o[13]-mini",
            {
                **_TEXT,
                "reasoning": True,
                "tools": False,
                "logprobs": False,
                "context_length": 128_000,
                "max_output": 65_536,
            },
        ),
        (
            r"^o\d(?:$|[-.])",
            {
                **UNKNOWN,
                "reasoning": True,
                "files": True,
                "logprobs": False,
                "context_length": 200_000,
                "max_output": 100_000,
            },
        ),
        (
            r"^claude",
            {
                **UNKNOWN,
                "reasoning": True,
                "files": True,
                "logprobs": False,
                "context_length": 200_000,
                "max_output": 64_000,
            },
        ),
        (
            r"^gemini",
            {
                **UNKNOWN,
                "reasoning": True,
                "audio": True,
                "files": True,
                "logprobs": False,
                "context_length": 1_048_576,
                "max_output": 65_536,
            },
        ),
        (r"^(?:qwen[\d.]*-?vl|qvq)", {**UNKNOWN, "context_length": 131_072, "max_output": 8_192}),
        (r"^(?:qwq|qwen3)", {**_TEXT, "reasoning": True, "context_length": 131_072, "max_output": 32_768}),
        (r"^qwen", {**_TEXT, "context_length": 131_072, "max_output": 8_192}),
        (
            r"^deepseek-(?:reasoner|r1)",
            {
                **_TEXT,
                "reasoning": True,
                "tools": False,
                "json": False,
                "logprobs": False,
                "context_length": 128_000,
                "max_output": 64_000,
            },
        ),
        (r"^deepseek", {**_TEXT, "context_length": 128_000, "max_output": 8_192}),
        (r"^llama-?3\.2-(?:11|90)b-vision|^llama-?4", {**UNKNOWN, "context_length": 131_072}),
        (r"^(?:meta-)?llama", {**_TEXT, "context_length": 131_072}),
        (r"^(?:pixtral|mistral-(?:small|medium)-3)", {**UNKNOWN, "context_length": 131_072}),
        (r"^(?:mistral|mixtral|codestral|ministral)", {**_TEXT, "context_length": 131_072}),
        (r"^smollm", {**_TEXT, "tools": False, "json": False, "context_length": 8_192}),
    ]
]


def _bare(model_name: str) -> str:
    return model_name.rsplit("/", 1)[-1]


def system_role(model_name: str) -> str:
    """The role the system prompt goes in: the o-series wants "developer"."""
    return "developer" if O_SERIES.match(model_name) else "system"


def token_field(model_name: str, learned: str = "") -> str:
    """The field the answer's length limit goes in: what the model was seen to accept, else
    max_completion_tokens for the o-series (which refuse max_tokens), else max_tokens."""
    if learned in TOKEN_FIELDS:
        return learned
    return "max_completion_tokens" if O_SERIES.match(model_name) else "max_tokens"


def known_abilities(model_name: str) -> dict:
    """The family table's abilities for this id, or UNKNOWN's."""
    bare = _bare(model_name)
    for pattern, abilities in FAMILIES:
        if pattern.search(bare):
            return dict(abilities)
    return dict(UNKNOWN)
