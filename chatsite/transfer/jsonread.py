"""JSON read with limits: the values of a top-level array one at a time (a ChatGPT export is one
array of every conversation), nesting bounded while it is parsed (before any of it is built).

The parser is ijson's C backend (yajl): no recursion in Python, so no depth can crash it, and
memory holds one item of the array at a time.
"""

from collections.abc import Iterator
from typing import BinaryIO

import ijson
from django.utils.translation import gettext as _

from chatsite.lib.text import MAX_DEPTH
from chatsite.transfer.errors import ImportRefused

_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})


def not_json() -> ImportRefused:
    return ImportRefused(_("The file is not valid JSON (or not UTF-8 text)."))


class _Counted:
    """A stream that counts the bytes read from it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        return data


def values(stream: BinaryIO, *, max_depth: int = MAX_DEPTH, max_item_bytes: int | None = None) -> Iterator[object]:
    """Each item of the stream's top-level array, or its one value when that is not an array.
    ImportRefused when the JSON is broken, nested deeper than max_depth, or has an item of more
    than max_item_bytes (memory holds one item: this bounds it)."""
    if stream.read(3) != b"\xef\xbb\xbf":  # a UTF-8 byte order mark, which yajl does not take
        stream.seek(0)
    counted = _Counted(stream)
    depth = 0
    top_array: bool | None = None
    builder: ijson.ObjectBuilder | None = None
    started = 0
    try:
        for event, value in ijson.basic_parse(counted, use_float=True):
            if builder is not None and max_item_bytes and counted.count - started > max_item_bytes:
                raise ImportRefused(
                    _("A conversation in the file is larger than %(size)s.")
                    % {"size": f"{max_item_bytes / (1024 * 1024):g} MB"}
                )
            if top_array is None:
                top_array = event == "start_array"
                if top_array:
                    depth = 1
                    continue
            if event in _OPEN:
                depth += 1
                if depth > max_depth:
                    raise ImportRefused(
                        _("The file's JSON is nested too deeply (more than %(depth)s levels).") % {"depth": max_depth}
                    )
            elif event in _CLOSE:
                depth -= 1
                if top_array and depth == 0:  # the end of the top-level array itself
                    continue
            if builder is None:
                builder, started = ijson.ObjectBuilder(), counted.count
            builder.event(event, value)
            if depth == (1 if top_array else 0):
                yield builder.value
                builder = None
    except (ijson.JSONError, UnicodeDecodeError, ValueError, OverflowError):
        # ValueError: also a number with more digits than Python converts.
        raise not_json() from None
    if top_array is None:
        raise not_json()  # empty
