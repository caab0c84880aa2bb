"""View naming and document encoding, shared by the memory and SQL read stores.

A projection's views are `<projection>_v<N>`; N only grows, so a stale runner can never
write into a later rebuild by name. View names become table names, hence the checks.
"""

from __future__ import annotations

import json
import re

import orjson

from smsledger.application.ports import Document

MAX_PROJECTION_NAME = 40
_PROJECTION = re.compile(rf"[A-Za-z0-9_]{{1,{MAX_PROJECTION_NAME}}}")
_VIEW = re.compile(rf"[A-Za-z0-9_]{{1,{MAX_PROJECTION_NAME}}}_v[1-9][0-9]{{0,8}}")


def check_projection(projection: str) -> str:
    """Projection names become table names: letters, digits, underscore, at most 40."""
    if not isinstance(projection, str) or not _PROJECTION.fullmatch(projection):
        raise ValueError(f"invalid projection name {projection!r}: use 1 to "
                         f"{MAX_PROJECTION_NAME} letters, digits or underscores")
    return projection


def check_view(view: str) -> str:
    if not isinstance(view, str) or not _VIEW.fullmatch(view):
        raise ValueError(f"invalid view name {view!r}: expected <projection>_v<N>")
    return view


def view_name(projection: str, version: int) -> str:
    return f"{projection}_v{version}"


# What the json module refused, orjson refuses too (datetimes and dataclasses would
# otherwise be written as strings); keys that are not strings become strings, as there.
_ENCODE_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS)


def encode(doc: Document) -> str:
    """A document as compact JSON text, with orjson: the projections write several per
    event. Text that is not ASCII is escaped, as the json module's was, so documents
    stay ASCII whatever the database's encoding."""
    data = orjson.dumps(doc, option=_ENCODE_OPTIONS)
    return data.decode() if data.isascii() else json.dumps(doc, separators=(",", ":"))


def decode(text: str) -> Document:
    doc: Document
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        # NaN, Infinity or a lone surrogate escape, which the json module wrote for
        # documents stored by earlier versions and orjson does not read.
        doc = json.loads(text)
    return doc


def unknown_view(view: str) -> ValueError:
    return ValueError(f"no view {view!r} (never created, dropped, or swapped out)")
