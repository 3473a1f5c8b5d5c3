"""Tool calls as they stream: assembled from deltas, then run, then stored on the answer.

Stored as Message.tool_calls, a list of dicts in call order:
    {"id", "name", "arguments" (JSON text as the model wrote it), "round" (0, 1, ...),
     "at" (length of the answer text when the round's calls were made), "status"
     ("streaming", "running", "done", "error", "stopped"), "result", "ms"}
"round" and "at" are enough to send the whole exchange back on later turns (see messages_for).
"""

import json
import uuid

from chatsite.providers.events import ToolCallDelta

MAX_CALLS_PER_ROUND = 16
MAX_ARGUMENT_CHARS = 64 * 1024


class Round:
    """The calls of one model reply, built from its ToolCallDelta events."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.calls: list[dict] = []
        self._by_index: dict[int, dict] = {}

    def add(self, delta: ToolCallDelta) -> None:
        call = self._call_for(delta)
        if delta.id and not call["id"]:
            call["id"] = delta.id
        if delta.name and not call["name"]:
            call["name"] = delta.name
        if delta.arguments and len(call["arguments"]) < MAX_ARGUMENT_CHARS:
            call["arguments"] += delta.arguments

    def _call_for(self, delta: ToolCallDelta) -> dict:
        if delta.index is not None:
            call = self._by_index.get(delta.index)
            # A known index with another id is another call (some gateways number every call 0).
            if call is None or (delta.id and call["id"] and delta.id != call["id"]):
                call = self._by_index[delta.index] = self._new()
            return call
        # No index (some gateways): a new id, or a second name without one, starts a new call.
        last = self.calls[-1] if self.calls else None
        if (
            last is None
            or (delta.id and last["id"] and delta.id != last["id"])
            or (delta.name and last["name"] and not delta.id)
        ):
            return self._new()
        return last

    def _new(self) -> dict:
        call = {"id": "", "name": "", "arguments": "", "round": self.number, "at": 0, "status": "streaming"}
        call["result"], call["ms"] = "", None
        self.calls.append(call)
        return call

    def close(self, at: int) -> list[dict]:
        """The round's calls ready to run: each with an id (made up when the server sent none);
        a call that never got a name cannot be answered and is dropped; calls beyond
        MAX_CALLS_PER_ROUND get an error result instead of running."""
        self.calls = [call for call in self.calls if call["name"]]
        for number, call in enumerate(self.calls):
            call["id"] = call["id"] or f"call_{uuid.uuid4().hex[:24]}"
            call["at"] = at
            if number >= MAX_CALLS_PER_ROUND and call["status"] == "streaming":
                call["status"] = "error"
                call["result"] = f"Error: too many calls in one reply; at most {MAX_CALLS_PER_ROUND} are run."
        return self.calls


def messages_for(text: str, calls: list[dict]) -> list[dict]:
    """An answer that used tools, as the assistant and tool messages the API expects back:
    per round, the text written before the calls and the calls, then each result; then the
    rest of the text."""
    messages: list[dict] = []
    done = 0
    rounds: dict[int, list[dict]] = {}
    for call in calls:
        if call.get("name"):
            rounds.setdefault(call.get("round", 0), []).append(call)
    for number in sorted(rounds):
        group = rounds[number]
        at = max(done, min(int(group[0].get("at") or 0), len(text)))
        messages += round_messages(text[done:at], group)
        done = at
    rest = text[done:].strip()
    if rest:
        messages.append({"role": "assistant", "content": rest})
    return messages


def round_messages(text: str, calls: list[dict]) -> list[dict]:
    """One round as the API wants it: the assistant's text and calls, then each call's result.

    content is null rather than "" when the model wrote nothing, as OpenAI sends it.
    """
    assistant = {
        "role": "assistant",
        "content": text.strip() or None,
        "tool_calls": [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": _arguments(call)},
            }
            for call in calls
        ],
    }
    return [assistant, *({"role": "tool", "tool_call_id": call["id"], "content": _result(call)} for call in calls)]


def _arguments(call: dict) -> str:
    """The arguments as written, when they are a JSON object; "{}" for what a stopped stream
    cut short (providers refuse the whole request over invalid arguments in the history)."""
    try:
        valid = isinstance(json.loads(call["arguments"]), dict)
    except ValueError:
        valid = False
    return call["arguments"] if valid else "{}"


def _result(call: dict) -> str:
    if call.get("status") in ("done", "error"):
        return call.get("result") or ""
    # Every call needs its result in the next request, also one that never ran.
    return "This call was not run: the answer was stopped."
