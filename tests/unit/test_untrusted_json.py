"""The callbacks' JSON check takes a one-pass shortcut for the common case; generated
values, hostile ones among them, show it never lets through what the full check
would refuse, and that a body it reads as clean text is clean."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from smsledger.adapters.infobip.untrusted_json import (
    MAX_DEPTH,
    MAX_KEY,
    MAX_STRING,
    UnreadableJson,
    _fits,
    _problem,
    problem_in,
    read_untrusted,
)

HOSTILE_TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udc00y", "\ud83d\ude00", "é", "✓"]),
    st.integers(MAX_KEY - 2, MAX_KEY + 2).map(lambda n: "k" * n),
    st.integers(MAX_STRING - 1, MAX_STRING + 1).map(lambda n: "s" * n),
)
NUMBERS = st.one_of(
    st.integers(),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([2.0**63, -(2.0**63), 1e300, 0.0085]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, HOSTILE_TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(HOSTILE_TEXT, inner, max_size=4)),
    max_leaves=30)


def nested(depth: int) -> Any:
    value: Any = {"leaf": 1}
    for level in range(depth - 1):
        value = {"next": value} if level % 2 else [value]
    return value


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_the_shortcut_passes_only_what_the_full_check_passes(value):
    if _fits(value, MAX_DEPTH, clean_text=False):
        assert _problem(value, MAX_DEPTH) is None
    assert (problem_in(value) is None) == (_problem(value, MAX_DEPTH) is None)


def test_nesting_at_the_limit_passes_and_one_deeper_is_named():
    assert problem_in(nested(MAX_DEPTH), clean_text=True) is None
    assert "nesting deeper than" in problem_in(nested(MAX_DEPTH + 1), clean_text=True)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans())
def test_a_body_read_as_clean_text_holds_no_nul_and_no_lone_surrogate(value, ascii_only):
    try:
        body = json.dumps(value, ensure_ascii=ascii_only)
    except ValueError:  # NaN and such are fine for json.dumps; nothing else is refused
        return
    for raw in (body, body.encode("utf-8", "surrogatepass")):
        try:
            read = read_untrusted(raw)
        except UnreadableJson:
            continue
        if read.clean_text:
            assert all("\x00" not in text and _is_unicode(text) for text in strings(read.value))
        # The same answer whichever way the text was checked.
        assert problem_in(read.value, clean_text=read.clean_text) == problem_in(read.value)


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for key, child in value.items() for text in [key, *strings(child)]]
    if isinstance(value, list):
        return [text for child in value for text in strings(child)]
    return [value] if isinstance(value, str) else []


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_a_nul_in_a_body_of_any_buffer_type_is_found():
    """Only bytes and str bodies are searched for the escape; any other buffer orjson
    reads gets the full check."""
    body = b'{"results": [{"a": "x\\u0000y"}]}'
    for given in (body, body.decode(), bytearray(body), memoryview(body)):
        read = read_untrusted(given)
        result = read.value["results"][0]
        assert problem_in(result, clean_text=read.clean_text) == "a holds a NUL character"
