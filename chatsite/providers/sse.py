"""Incremental Server-Sent Events parser: bytes in, the data of each complete message event out."""

from __future__ import annotations

import codecs
import logging

log = logging.getLogger(__name__)

__all__ = ["SSEError", "SSEParser"]


class SSEError(Exception):
    """The stream broke the parser's limits (an event larger than max_event_bytes)."""


class SSEParser:
    """Turn an event stream, fed in arbitrary pieces, into the `data` of each event.

    Follows the parts of the WHATWG event-stream rules a Chat Completions stream uses: lines end
    in CRLF, LF or CR; lines starting with ':' are comments; `data:` lines (one optional space
    after the colon) of one event are joined with LF; a blank line dispatches the event. As
    browsers do, only message events are handed on: an event named by an `event:` field other
    than "message" (a `ping`, a vendor's own event) is skipped. Other fields are ignored. No I/O:
    the caller feeds bytes and gets strings back.
    """

    __slots__ = (
        "_decoder",
        "_started",
        "_skip_lf",
        "_partial",
        "_partial_size",
        "_data",
        "_data_size",
        "_event",
        "max_event_bytes",
    )

    def __init__(self, max_event_bytes: int = 1 << 20) -> None:
        # "replace" so that a provider sending invalid UTF-8 garbles one character rather than
        # killing the whole answer; an incomplete character at a piece boundary is held back.
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._started = False  # a leading BOM is dropped once, at the start of the stream
        self._skip_lf = False  # the last piece ended in CR: a LF opening the next one ends nothing
        self._partial: list[str] = []  # the unterminated line, kept in pieces to avoid re-copying
        self._partial_size = 0
        self._data: list[str] = []  # data lines of the event being read
        self._data_size = 0
        self._event = ""  # the event type buffer: "" and "message" are message events
        # Measured in decoded characters, which for UTF-8 never exceed the bytes received.
        self.max_event_bytes = max_event_bytes

    def feed(self, data: bytes) -> list[str]:
        """Add bytes from the stream; return the data of every event they complete."""
        return self._feed_text(self._decoder.decode(data))

    def close(self) -> list[str]:
        """End of stream: return the data of a last event that lacked its closing blank line."""
        events = self._feed_text(self._decoder.decode(b"", True))
        if self._partial:
            line = "".join(self._partial)
            self._partial.clear()
            self._partial_size = 0
            self._line(line, events)
        self._line("", events)  # a pending event with data counts even without its blank line
        return events

    def _feed_text(self, text: str) -> list[str]:
        if not text:
            return []
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text[:1] == "\n":
                text = text[1:]
        if "\r" in text:
            # The CR of a CRLF may end this piece and its LF open the next one.
            if text[-1] == "\r":
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")

        lines = text.split("\n")
        last = lines.pop()  # the unterminated rest ("" when text ended with a line break)
        events: list[str] = []
        if lines:
            if self._partial:
                self._partial.append(lines[0])
                lines[0] = "".join(self._partial)
                self._partial.clear()
                self._partial_size = 0
            for line in lines:
                self._line(line, events)
        if last:
            self._partial.append(last)
            self._partial_size += len(last)
            if self._partial_size + self._data_size > self.max_event_bytes:
                raise SSEError(f"An event exceeded {self.max_event_bytes} bytes.")
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            if self._data:
                if not self._event or self._event == "message":
                    events.append(self._data[0] if len(self._data) == 1 else "\n".join(self._data))
                else:
                    log.debug("skipped an SSE event named %r", self._event[:40])
                self._data = []
                self._data_size = 0
            self._event = ""
            return
        if line[0] == ":":  # comment, e.g. the ": PROCESSING" keep-alives some gateways send
            return
        if line.startswith("data"):
            if len(line) == 4:  # a bare "data" field line carries an empty value
                value = ""
            elif line[4] == ":":
                value = line[6:] if line[5:6] == " " else line[5:]
            else:  # "dataX: ..." is some other field
                return
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self.max_event_bytes:
                raise SSEError(f"An event exceeded {self.max_event_bytes} bytes.")
        elif line.startswith("event"):
            if len(line) == 5:
                self._event = ""
            elif line[5] == ":":
                self._event = (line[7:] if line[6:7] == " " else line[6:])[:64]
        # id:, retry: and unknown fields do not matter to Chat Completions.
