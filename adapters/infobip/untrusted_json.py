"""JSON from outside, read so that no value in it can reach the store unchecked.

A callback body is read with orjson (fast) or, for what orjson refuses (NaN, integers
beyond any float, lone surrogates in `\\u` escapes), with the json module, which reads
those but must not meet integers too long for Python to convert or nesting deeper
than the interpreter's stack: those are caught here, so reading either returns a
value or raises UnreadableJson, never anything else.

Then each item is checked before any of it is used (`problem_in`): text PostgreSQL or
UTF-8 cannot hold (NUL, lone surrogates), strings and nesting of absurd size, numbers
a 64-bit column or the event transcoder cannot hold. An item that fails is kept in
quarantine as `storable_text`: its JSON with those characters escaped, cut to a
bounded length. Nearly every item is fit, and one pass with no call per value proves
it (`_fits`, on every webhook's hot path); only an item that may not be goes through
the full check, which says what is wrong and where.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import operator
from collections.abc import Callable
from typing import Any

import orjson

MAX_DEPTH = 16  # Infobip's items nest 3 levels; a margin for fields it adds later
MAX_STRING = 16_384  # characters; a long concatenated inbound SMS is under 10,000
MAX_KEY = 256
MAX_KEPT = 4_096  # characters of a bad item's text kept in quarantine
INT64 = (-(2**63), 2**63 - 1)  # what PostgreSQL's bigint and orjson hold
_LONGEST_INT64 = len(str(INT64[0]))  # 20 characters, sign included
_FLOAT64 = 2.0**63  # a float this large (or -2^63-1 rounded) is no 64-bit integer


class UnreadableJson(ValueError):
    """The body is no JSON we can read; the message says why."""


class OversizedInteger:
    """What the json module reads for an integer too long to be one of ours: kept as
    its length, so the item holding it is quarantined instead of the body refused
    (Python refuses to convert integers of more than 4,300 digits at all)."""

    __slots__ = ("digits",)

    def __init__(self, literal: str) -> None:
        self.digits = len(literal.lstrip("-"))

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


@dataclasses.dataclass(frozen=True)
class Untrusted:
    """A JSON value read from outside, and whether its text is known to be clean: every
    string Unicode text without NUL (then problem_in need only check sizes and numbers)."""

    value: Any
    clean_text: bool


def read_untrusted(body: bytes | str) -> Untrusted:
    """Raises UnreadableJson, with the reason, for anything that is no JSON we read."""
    try:
        value = orjson.loads(body)  # several times the json module's speed
    except orjson.JSONDecodeError:
        pass
    else:
        # orjson refuses lone surrogates and raw control characters in strings, so a
        # NUL can only come from its escape. Other buffers (a memoryview) get the full
        # check: `in` means something else there.
        if isinstance(body, bytes):
            return Untrusted(value, clean_text=b"\\u0000" not in body)
        return Untrusted(value, clean_text=isinstance(body, str) and "\\u0000" not in body)
    try:
        return Untrusted(json.loads(body, parse_int=_integer), clean_text=False)
    except RecursionError:
        raise UnreadableJson("body is not JSON we can read: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise UnreadableJson(f"body is not JSON: {exc}") from None


def _integer(literal: str) -> int | OversizedInteger:
    return int(literal) if len(literal) <= _LONGEST_INT64 else OversizedInteger(literal)


def problem_in(value: Any, *, clean_text: bool = False) -> str | None:
    """What makes a JSON value unfit to keep, and where (e.g. "status.name holds a NUL
    character"), or None. Recursion is bounded by MAX_DEPTH, not by the input.
    `clean_text`: the value's strings are known to be Unicode without NUL (Untrusted)."""
    if _fits(value, MAX_DEPTH, clean_text):  # nearly always: no need to say where
        return None
    found = _problem(value, MAX_DEPTH)
    if found is None:
        return None
    path, problem = found
    return f"{_path(path)} holds {problem}" if path else problem


def _problem(value: Any, levels: int) -> tuple[list[str | int], str] | None:
    """None, or (the path to the problem, innermost first; the problem)."""
    kind = type(value)
    if kind is dict or kind is list:
        if levels == 0:
            return [], f"nesting deeper than {MAX_DEPTH} levels"
        children = value.items() if kind is dict else enumerate(value)
        for key, child in children:
            if isinstance(key, str) and not _plain_text(key, MAX_KEY) and (
                    problem := text_problem(key, MAX_KEY)) is not None:
                return [], f"a key with {problem}"
            if not (_plain_text(child, MAX_STRING) or _plain_int(child)):
                found = _problem(child, levels - 1)
                if found is not None:
                    found[0].append(key)
                    return found
        return None
    if kind is str:
        problem = text_problem(value)
    elif kind is int:
        problem = None if INT64[0] <= value <= INT64[1] else "an integer beyond 64 bits"
    elif kind is float:
        # orjson reads an integer it cannot hold as one (below -2^63, above 2^64-1) as a
        # float; and no float this large is a count, an id or a price: beyond 64 bits too.
        problem = (f"a number that is not finite ({value})" if not math.isfinite(value) else
                   "a number beyond 64 bits" if not -_FLOAT64 < value < _FLOAT64 else None)
    elif isinstance(value, OversizedInteger):
        problem = f"an integer of {value.digits} digits"
    elif value is None or kind is bool:
        problem = None
    else:
        problem = f"a value of type {kind.__name__}"
    return None if problem is None else ([], problem)


def _fits(value: Any, levels: int, clean_text: bool) -> bool:
    """True when nothing in `value` is unfit; False when something may be, and
    _problem says what. The callbacks' hot path: one pass, no calls for the leaves."""
    kind = type(value)
    if kind is dict:
        if not value.keys() <= _FIT_KEYS and not _keys_fit(value, clean_text):
            return False
        children = value.values()
    elif kind is list:
        children = value
    else:
        return False  # a result that is no container: rare, _problem decides
    if levels == 0:
        return False
    for child in children:
        kind = type(child)
        if kind is str:
            if len(child) > MAX_STRING or not (clean_text or _plain_text(child, MAX_STRING)):
                return False
        elif kind is int:
            if not INT64[0] <= child <= INT64[1]:
                return False
        elif kind is dict or kind is list:
            if not _fits(child, levels - 1, clean_text):
                return False
        elif kind is float:
            if not -_FLOAT64 < child < _FLOAT64:  # NaN fails too
                return False
        elif child is not None and kind is not bool:
            return False
    return True


def _keys_fit(value: dict[Any, Any], clean_text: bool) -> bool:
    for key in value:
        if type(key) is not str or len(key) > MAX_KEY or not (
                clean_text or _plain_text(key, MAX_KEY)):
            return False
        if len(_FIT_KEYS) < _MAX_FIT_KEYS:
            _FIT_KEYS.add(key)
    return True


# Keys found fit, so that the next item with the same keys is passed in one set
# comparison; bounded, as the keys come from outside.
_FIT_KEYS: set[str] = set()
_MAX_FIT_KEYS = 1_000


def _plain_text(value: Any, limit: int) -> bool:
    """The common case, passed over at once: short ASCII text without NUL."""
    return type(value) is str and len(value) <= limit and value.isascii() and "\x00" not in value


def _plain_int(value: Any) -> bool:
    return type(value) is int and INT64[0] <= value <= INT64[1]


def _path(parts: list[str | int]) -> str:
    """e.g. status.name, extra[0][1]; `parts` innermost first."""
    text = ""
    for part in reversed(parts):
        text += f"[{part}]" if type(part) is int else (f".{part}" if text else str(part))
    return text


def problem_in_fields(parsed: Any) -> str | None:
    """The same check for what was made of an item (a dataclass, walked through its
    dataclass fields): numbers and text derived from valid JSON can still be out of
    range, e.g. a count given as a 100-digit string. Containers (the raw item) were
    checked as JSON already; other values (dates, enums, decimals) are the parser's."""
    names, values_of = _fields_of(type(parsed))
    for name, value in zip(names, values_of(parsed)):
        kind = type(value)
        if kind is str:
            if len(value) <= MAX_STRING and value.isascii() and "\x00" not in value:
                continue
        elif kind is int:
            if INT64[0] <= value <= INT64[1]:
                continue
        elif kind is not float:
            if value is None or kind in _NOT_DATACLASSES:
                continue
            if not _fields_of(kind)[0]:
                _NOT_DATACLASSES.add(kind)  # dates, enums, decimals, the raw item
                continue
            if (problem := problem_in_fields(value)) is not None:
                return f"{name}.{problem}"  # a dataclass within
            continue
        if (problem := problem_in(value)) is not None:
            return f"{name} holds {problem}"
    return None


def _fields_of(kind: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """A dataclass's field names, and a function giving an instance's values of them
    (in one call); no names for any other type."""
    if kind not in _FIELDS:  # a few types (dataclasses, dates, enums...)
        names = (tuple(field.name for field in dataclasses.fields(kind))
                 if dataclasses.is_dataclass(kind) else ())
        _FIELDS[kind] = (names, _values_getter(names))
    return _FIELDS[kind]


def _values_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) == 1:  # attrgetter of one name gives the value, not a tuple
        return lambda instance: (getattr(instance, names[0]),)
    return operator.attrgetter(*names) if names else (lambda instance: ())


_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}
_NOT_DATACLASSES: set[type] = set()  # found by _fields_of: passed over in one lookup


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def text_problem(text: str, limit: int = MAX_STRING) -> str | None:
    if len(text) > limit:
        return f"a string of {len(text)} characters (at most {limit})"
    if "\x00" in text:
        return "a NUL character"  # PostgreSQL text cannot hold it
    if not text.isascii() and not _is_unicode(text):
        return "a lone surrogate (not Unicode text)"
    return None


def storable_text(value: Any) -> str:
    """`value` as JSON text any store holds and any answer can carry: lone surrogates
    written as their `\\udc00` escape (NUL is escaped by JSON itself), nesting beyond
    MAX_DEPTH elided, and at most MAX_KEPT characters; a longer text is cut and ends
    with its length and digest, so that two items cut alike are still kept apart."""
    text = json.dumps(_pruned(value, MAX_DEPTH), ensure_ascii=False, default=repr)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= MAX_KEPT:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{text[:MAX_KEPT]}... (cut: {len(text)} characters, sha256 {digest})"


def _pruned(value: Any, levels: int) -> Any:
    if type(value) is dict or type(value) is list:
        if levels == 0:
            return f"<{type(value).__name__} nested too deeply; not kept>"
        if type(value) is dict:
            return {key: _pruned(child, levels - 1) for key, child in value.items()}
        return [_pruned(child, levels - 1) for child in value]
    return value
