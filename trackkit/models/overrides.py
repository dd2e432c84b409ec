"""Typed ``section.field=value`` overrides for frozen config dataclasses.

Values are parsed against the field's annotation: bool (true/false/yes/no/1/0), int, float,
str, None ('none'/'null' where the field allows it), tuples (comma separated, brackets
optional: '3,6,9', '[3, 6, 9]', '()' for empty) and unions such as ``float | tuple[float, ...]``
(a comma or bracket picks the tuple). Errors name the override and the expected type.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing

from trackkit.errors import ConfigError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def type_name(tp) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def parse_value(text: str, tp):
    """Parse ``text`` as type ``tp``; raises ValueError with a short reason."""
    text = text.strip()
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        rest = [a for a in args if a is not type(None)]
        looks_seq = "," in text or text[:1] in "([" and text != ""
        ordered = sorted(rest, key=lambda a: typing.get_origin(a) is not tuple) if looks_seq \
            else sorted(rest, key=lambda a: typing.get_origin(a) is tuple)
        errors = []
        for a in ordered:
            try:
                return parse_value(text, a)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin is tuple:
        args = typing.get_args(tp)
        inner = text[1:-1] if text[:1] in "([" and text[-1:] in ")]" else text
        items = [t for t in (s.strip() for s in inner.split(",")) if t != ""]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(t, args[0]) for t in items)
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values, got {len(items)}")
        return tuple(parse_value(t, a) for t, a in zip(items, args))
    if tp is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"{text!r} is not a bool (true/false)")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an int") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a float") from None
    if tp is str:
        return text
    raise ValueError(f"cannot parse type {type_name(tp)}")


def apply_overrides(sections: dict[str, object], overrides: list[str]) -> dict[str, object]:
    """``sections`` maps a name ('model', 'track', 'train') to a frozen dataclass instance;
    returns the same mapping with every ``section.field=value`` applied (later ones win)."""
    changes: dict[str, dict[str, object]] = {k: {} for k in sections}
    for ov in overrides:
        key, sep, text = ov.partition("=")
        if not sep:
            raise ConfigError(f"override {ov!r}: expected section.field=value")
        sec, dot, field = key.strip().partition(".")
        if not dot or sec not in sections:
            raise ConfigError(f"override {ov!r}: the key must start with one of "
                              f"{', '.join(s + '.' for s in sections)}")
        obj = sections[sec]
        hints = typing.get_type_hints(type(obj))
        names = [f.name for f in dataclasses.fields(obj)]
        if field not in names:
            near = difflib.get_close_matches(field, names, n=3)
            hint = f"; did you mean {', '.join(sec + '.' + n for n in near)}?" if near else \
                f"; known fields: {', '.join(names)}"
            raise ConfigError(f"override {ov!r}: {type(obj).__name__} has no field {field!r}{hint}")
        try:
            changes[sec][field] = parse_value(text, hints[field])
        except ValueError as e:
            raise ConfigError(f"override {ov!r}: {sec}.{field} expects "
                              f"{type_name(hints[field])}: {e}") from None
    out = {}
    for sec, obj in sections.items():
        try:
            out[sec] = dataclasses.replace(obj, **changes[sec]) if changes[sec] else obj
        except ConfigError as e:
            raise ConfigError(f"overrides {overrides}: {e}") from None
    return out
