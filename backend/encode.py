"""An answer's JSON in pieces: the same bytes as `model.model_dump_json()`, made by many short calls instead of one.

The event loop and the request threads share one GIL. A single serialising call holds it for its whole run (pydantic-
core's and torch's `tolist` do not release it): 150 ms and more for a 6 MB answer of SmolLM2 on two busy cores, and
for that long /api/health cannot answer. Here an answer's nested lists and models are written item by item, so
another thread waits at most one item's time (a row of weights) for the GIL.

Each piece is written by orjson where it can (8x faster than pydantic-core's `to_json` on a list of floats: 1.4 ms
against 11 ms for the 65,536 weights of the default model at 64 tokens), with the same bytes: both write a float as
its shortest round-trip form, NaN and infinities as null, and escape strings alike (tests/backend/test_encode.py
checks floats of every magnitude and every code point). What orjson does not take (a dict with int keys, an int
past 64 bits, a subclass of float such as numpy's) goes to `to_json` as before.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson
from pydantic import BaseModel
from pydantic_core import to_json

PIECE = 1 << 14  # numbers per call at most (about 1 ms of one core); a larger nested list is written item by item


@dataclass(frozen=True)
class Rows:
    """A field of an answer that is only sent: the numpy array [..., query, key] with each query's row cut after its
    first lengths[query] keys (the keys it sees), written as that ragged nested list."""

    array: np.ndarray
    lengths: Sequence[int]


def dump(model: BaseModel) -> bytes:
    """model.model_dump_json().encode(), written piece by piece (see the module's doc)."""
    out: list[bytes] = []
    _write(model, out)
    return b"".join(out)


def _write(value: object, out: list[bytes]) -> None:
    if isinstance(value, BaseModel) and _scalars_only(type(value)):  # a token, a prediction, a head's summary
        out.append(value.__pydantic_serializer__.to_json(value))  # model_dump_json()'s bytes, in one short call
    elif isinstance(value, BaseModel):
        out.append(b"{")
        for i, name in enumerate(type(value).model_fields):
            out.append(b"," if i else b"")
            out.append(to_json(name) + b":")
            _write(getattr(value, name), out)
        out.append(b"}")
    elif isinstance(value, np.ndarray):
        _write_array(value, out)
    elif isinstance(value, Rows):
        _write_rows(value.array, value.lengths, out)
    elif isinstance(value, (list, tuple)) and value and (isinstance(value[0], BaseModel) or _size(value) > PIECE):
        _each(value, _write, out)
    else:  # a scalar, a small nested list, a flat list of scalars (one row), a dict: one call
        out.append(piece(value))


SCALARS = (int, float, str, bool, type(None))
_SCALARS_ONLY: dict[type, bool] = {}


def _scalars_only(cls: type[BaseModel]) -> bool:
    """Whether every field of the model class is a scalar (int, float, str, bool, None, a Literal, a union of those):
    such a model is a few numbers and strings, written in one call as quickly as by field."""
    known = _SCALARS_ONLY.get(cls)
    if known is None:
        known = _SCALARS_ONLY[cls] = all(_scalar(f.annotation) for f in cls.model_fields.values())
    return known


def _scalar(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return all(isinstance(a, SCALARS) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _scalar(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return all(_scalar(a) for a in typing.get_args(annotation))
    return origin is None and isinstance(annotation, type) and issubclass(annotation, SCALARS) \
        and not issubclass(annotation, BaseModel)


def _write_array(a: np.ndarray, out: list[bytes]) -> None:
    """A numpy array (a field the analysis filled with rounded numbers after validation, see
    backend.analysis.common.rounded) as the JSON of a.tolist(): orjson writes its numbers straight from the array,
    with the same bytes as from Python floats; a large one row by row, as a nested list."""
    if a.ndim >= 2 and a.size > PIECE:
        _each(a, _write_array, out)  # row by row
        return
    try:
        if a.ndim == 0:  # orjson writes no 0-d array (and np.ascontiguousarray would make it 1-d)
            raise TypeError
        out.append(orjson.dumps(np.ascontiguousarray(a), option=orjson.OPT_SERIALIZE_NUMPY))
    except TypeError:  # a 0-d array, a dtype orjson does not write
        out.append(piece(a.tolist()))


def _write_rows(a: np.ndarray, lengths: Sequence[int], out: list[bytes]) -> None:
    """Rows(a, lengths): each [query, key] matrix in one call (its rows as views of it), or row by row where large."""
    if a.ndim > 2:
        _each(a, lambda m, out: _write_rows(m, lengths, out), out)
    elif a.size > PIECE:
        _each([a[q, :n] for q, n in enumerate(lengths)], _write_array, out)
    else:
        out.append(orjson.dumps([a[q, :n] for q, n in enumerate(lengths)], option=orjson.OPT_SERIALIZE_NUMPY))


def _each(items, write, out: list[bytes]) -> None:
    """A JSON list of items, each written by write(item, out)."""
    out.append(b"[")
    for i, item in enumerate(items):
        if i:
            out.append(b",")
        write(item, out)
    out.append(b"]")


def piece(value: object) -> bytes:
    """The JSON of a scalar, a list (of lists) of scalars or a dict, as pydantic-core's `to_json` writes it in a model
    (inf and NaN as null, ser_json_inf_nan), by orjson where it takes the value."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError: a type or a value orjson does not write
        return to_json(value, inf_nan_mode="null")


def _size(value: list | tuple) -> int:
    """How many numbers a nested list holds, judged by its first item at each depth (the arrays are rectangular)."""
    n = 1
    while isinstance(value, (list, tuple)) and value:
        n *= len(value)
        value = value[0]
    return n
