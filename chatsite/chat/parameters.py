"""The allow-list of sampling parameters a conversation may send upstream, with their ranges."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    kind: type
    low: float
    high: float


# Ranges from the providers' references (seeds 000-003).
ALLOWED = {
    "temperature": Param(float, 0, 2),
    "top_p": Param(float, 0, 1),
    "max_tokens": Param(int, 1, 1_000_000),
    "presence_penalty": Param(float, -2, 2),
    "frequency_penalty": Param(float, -2, 2),
}


class ParameterError(ValueError):
    pass


def clean_parameters(raw: object) -> dict:
    """Return only known parameters, type- and range-checked; raise ParameterError otherwise."""
    if not isinstance(raw, dict):
        raise ParameterError("Parameters must be an object.")
    cleaned: dict = {}
    for key, value in raw.items():
        spec = ALLOWED.get(key)
        if spec is None:
            raise ParameterError(f"Unknown parameter {str(key)[:40]!r}.")
        if value is None or value == "":
            continue
        # bool is an int subclass: refuse it explicitly.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{key} must be a number.")
        if spec.kind is int and value != int(value):
            raise ParameterError(f"{key} must be a whole number.")
        if not spec.low <= value <= spec.high:
            raise ParameterError(f"{key} must be between {spec.low:g} and {spec.high:g}.")
        cleaned[key] = spec.kind(value)
    return cleaned
