"""Typed recipe sections: a dataclass filled from a YAML mapping, every value checked against the field's type
and range, so a wrong value stops the run before anything starts with one line that names its key
(``recipe optim.lr: must be > 0, got -1.0``).

A field states its range with :func:`setting`; types come from the annotations. YAML facts handled here:
YAML 1.1 reads ``1e-4`` as a string (a number field accepts it); ``true`` is not a number; ``.nan`` and
``.inf`` are refused; an integer field takes ``9e5`` or ``900000.0`` but not ``1.5``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any, Union

from emox_core.errors import EmoxError

_NO_DEFAULT: Any = dataclasses.MISSING


def setting(default: Any = _NO_DEFAULT, *, factory: Callable[[], Any] | None = None, ge: float | None = None,
            gt: float | None = None, lt: float | None = None, choices: tuple[str, ...] | None = None,
            number_as_text: bool = False, hint: str = "") -> Any:
    """A dataclass field with its allowed range: ``ge``/``gt``/``lt`` bounds for numbers (each item of a list
    or tuple), ``choices`` for text, ``number_as_text`` to take ``3`` or ``1.1`` for a text field (a phase);
    ``hint`` is added to a range error (``null keeps every checkpoint``)."""
    meta = {"ge": ge, "gt": gt, "lt": lt, "choices": choices, "number_as_text": number_as_text, "hint": hint}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def build(cls: type, data: Any, where: str) -> Any:
    """``cls`` from ``data``, refusing unknown keys (the class's ``RENAMED`` mapping says what an old key
    became) and checking every value. ``where`` is the dotted path of the section (``""`` at the top)."""
    if not isinstance(data, dict):
        raise EmoxError(f"recipe {where or 'top level'}: expected a mapping, got {_show(data)}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    renamed = getattr(cls, "RENAMED", {})
    for key in data:
        if key not in known:
            path = _join(where, str(key))
            if key in renamed:
                raise EmoxError(f"recipe {path}: {renamed[key]}")
            raise EmoxError(f"recipe {path}: unknown key (known here: {', '.join(known)})")
    values = {key: check(value, hints[key], _join(where, key), known[key].metadata) for key, value in data.items()}
    return cls(**values)


def check(value: Any, kind: Any, path: str, meta: Any = None) -> Any:
    """``value`` as type ``kind`` (int, float, bool, str, list/tuple/dict of those, a dataclass, Optional of
    any), with the field's range from ``meta``; raises a one-line EmoxError naming ``path``."""
    meta = meta or {}
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if value is None:
        raise EmoxError(f"recipe {path}: expected {_describe(kind)}, got null")
    if dataclasses.is_dataclass(kind):
        return build(kind, value, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise EmoxError(f"recipe {path}: expected a mapping, got {_show(value)}")
        return {str(k): check(v, args[1], _join(path, str(k)), meta) for k, v in value.items()}
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise EmoxError(f"recipe {path}: expected a list, got {_show(value)}")
        if origin is tuple and len(value) != len(args):
            raise EmoxError(f"recipe {path}: expected {len(args)} items, got {len(value)}")
        items = [check(v, args[i] if origin is tuple else args[0], f"{path}[{i}]", meta) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if kind is bool:
        if not isinstance(value, bool):
            raise EmoxError(f"recipe {path}: expected true or false, got {_show(value)}")
        return value
    if kind is str:
        return _text(value, path, meta)
    if kind in (int, float):
        return _bounded(_number(value, kind, path), path, meta)
    raise TypeError(f"schema: unsupported field type {kind!r} at {path}")


def _text(value: Any, path: str, meta: Any) -> str:
    if meta.get("number_as_text") and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise EmoxError(f"recipe {path}: expected text, got {_show(value)}")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise EmoxError(f"recipe {path}: {value!r} is not one of {', '.join(choices)}")
    return value


def _number(value: Any, kind: type, path: str) -> int | float:
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise EmoxError(f"recipe {path}: expected {what}, got {_show(value)}")
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        raise EmoxError(f"recipe {path}: expected {what}, got {value!r}") from None
    if not math.isfinite(number):
        raise EmoxError(f"recipe {path}: expected a finite number, got {value}")
    if kind is int:
        if number != int(number):
            raise EmoxError(f"recipe {path}: expected an integer, got {value}")
        return int(number)
    return float(number)


def _bounded(number: int | float, path: str, meta: Any) -> int | float:
    for key, ok, sign in (("ge", number.__ge__, ">="), ("gt", number.__gt__, ">"), ("lt", number.__lt__, "<")):
        bound = meta.get(key)
        if bound is not None and not ok(bound):
            hint = f" ({meta['hint']})" if meta.get("hint") else ""
            raise EmoxError(f"recipe {path}: must be {sign} {bound}, got {number}{hint}")
    return number


def _describe(kind: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
    if kind in names:
        return names[kind]
    return "a mapping" if typing.get_origin(kind) is dict or dataclasses.is_dataclass(kind) else "a list"


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, (str, int, float)) else type(value).__name__


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
