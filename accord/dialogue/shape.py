"""The shape of a signed dialogue state: which keys a version's ``state`` holds, and their types.

A version that arrives from a partner is JSON its signer wrote: the signature says who wrote it,
not that it is well formed. :func:`check_state` runs before a state becomes a
:class:`~accord.dialogue.model.Series`, :class:`~accord.dialogue.model.Meeting` or
:class:`~accord.dialogue.model.Commitment`, so a title that is a number, a meeting number of
``1.5`` or ``true``, an agenda of objects or a ``null`` place is one
:class:`~accord.errors.InputError` naming the key (the version is then rejected on receipt),
never an exception that breaks the reads of the node that received it, nor a value that is
quietly changed (``int(1.5)``) or stored with the wrong type. Keys a later version of Accord may
add are not refused here.
"""

from __future__ import annotations

from typing import Any

from accord.errors import InputError

_OPTIONAL = object()
_STR_MAP = object()  # a JSON object of strings (a series' venues)

_SERIES: dict[str, Any] = {
    "id": str, "title": str, "parties": [str], "level": str, "cadence_months": int,
    "first_meeting": str, "host_rotation": [str], "venues": (_OPTIONAL, _STR_MAP)}
_MEETING: dict[str, Any] = {
    "id": str, "series_id": str, "number": int, "status": str, "date": str, "host": str,
    "place": (_OPTIONAL, str), "start": (_OPTIONAL, str, None), "duration_minutes": (_OPTIONAL, int, None),
    "attendees": (_OPTIONAL, [{"party": str, "role": str}]), "agenda": (_OPTIONAL, [str]),
    "minutes": (_OPTIONAL, str), "decisions": (_OPTIONAL, [{"id": str, "text": str}]),
    "outcomes": (_OPTIONAL, [str])}
_COMMITMENT: dict[str, Any] = {
    "id": str, "series_id": str, "meeting_id": str, "owner": str, "text": str, "due": str, "status": str,
    "evidence": (_OPTIONAL, [str]), "links": (_OPTIONAL, [{"kind": str, "ref": str}])}
SHAPES = {"dialogue.series": _SERIES, "dialogue.meeting": _MEETING, "dialogue.commitment": _COMMITMENT}


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _fits(value: Any, spec: Any) -> bool:
    if spec is None:
        return value is None
    if spec is int:
        return type(value) is int  # not a bool, not 1.5
    if spec is str:
        return isinstance(value, str)
    if spec is _STR_MAP:
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    if isinstance(spec, list):
        return isinstance(value, list)
    return isinstance(value, dict)


def _check(value: Any, spec: Any, path: str) -> None:
    options = [s for s in spec if s is not _OPTIONAL] if isinstance(spec, tuple) else [spec]
    chosen = next((s for s in options if _fits(value, s)), _OPTIONAL)
    if chosen is _OPTIONAL:
        wanted = " or ".join("null" if s is None else "an integer" if s is int else "a string" if s is str
                             else "a list" if isinstance(s, list) else "an object" for s in options)
        raise InputError(f"expected {wanted}, got {_type_name(value)}", field=path)
    if isinstance(chosen, list):
        for i, x in enumerate(value):
            _check(x, chosen[0], f"{path}[{i}]")
    elif isinstance(chosen, dict):
        _check_object(value, chosen, path)


def _check_object(value: dict, shape: dict[str, Any], path: str) -> None:
    for key, spec in shape.items():
        where = f"{path}.{key}"
        if key not in value:
            if isinstance(spec, tuple) and _OPTIONAL in spec:
                continue
            raise InputError("missing", field=where)
        _check(value[key], spec, where)


def check_state(kind: str, state: Any) -> None:
    """Raise :class:`~accord.errors.InputError` unless ``state`` has the shape of a ``kind`` state."""
    shape = SHAPES.get(kind)
    if shape is None:
        raise InputError(f"not a dialogue kind: {kind!r}", field="kind")
    if not isinstance(state, dict):
        raise InputError(f"expected an object, got {_type_name(state)}", field="state")
    _check_object(state, shape, "state")
