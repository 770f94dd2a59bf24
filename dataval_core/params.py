"""Declarative method parameters: frozen dataclasses with validated ranges.

Each valuator declares a ``Params`` dataclass whose fields carry their range and
help text via :func:`param`. The same declaration validates input (one readable
sentence per error, as scikit-learn does), parses ``--param KEY=VALUE`` from the
CLI and renders the app's parameter form.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any


def param(default: Any, *, low: float | None = None, high: float | None = None,
          low_open: bool = False, high_open: bool = False,
          choices: Sequence[Any] | None = None, help: str = "") -> Any:
    """A dataclass field with its valid range (``[low, high]``, open ends optional) or choices."""
    meta = {"low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "choices": tuple(choices) if choices is not None else None, "help": help}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamSpec:
    """What a UI form or CLI needs to know about one parameter."""

    name: str
    type: type
    default: Any
    low: float | None
    high: float | None
    low_open: bool
    high_open: bool
    choices: tuple | None
    help: str

    def describe_range(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = {int: "an int", float: "a float", bool: "a bool", str: "a string"}.get(self.type, self.type.__name__)
        if self.low is None and self.high is None:
            return kind
        lo = "-inf" if self.low is None else repr(self.low)
        hi = "inf" if self.high is None else repr(self.high)
        left = "(" if (self.low_open or self.low is None) else "["
        right = ")" if (self.high_open or self.high is None) else "]"
        return f"{kind} in the range {left}{lo}, {hi}{right}"


def _field_type(f: dataclasses.Field) -> type:
    t = f.type if isinstance(f.type, type) else {"int": int, "float": float, "bool": bool, "str": str}.get(str(f.type))
    if t is None:
        t = type(f.default)
    return t


def specs(params_cls: type) -> list[ParamSpec]:
    """The parameter specs of a params dataclass, in declaration order."""
    out = []
    for f in fields(params_cls):
        m = f.metadata
        out.append(ParamSpec(f.name, _field_type(f), f.default, m.get("low"), m.get("high"),
                             m.get("low_open", False), m.get("high_open", False), m.get("choices"), m.get("help", "")))
    return out


def validate(params: Any, owner: str) -> None:
    """Raise ``ValueError`` with one readable sentence for the first out-of-range field."""
    for s in specs(type(params)):
        value = getattr(params, s.name)
        bad = False
        if s.type is bool:
            bad = not isinstance(value, bool)
        elif s.type in (int, float):
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or (s.type is int and not float(value).is_integer())):
                bad = True
            elif value != value:  # NaN
                bad = True
            else:
                if s.low is not None and (value < s.low or (s.low_open and value == s.low)):
                    bad = True
                if s.high is not None and (value > s.high or (s.high_open and value == s.high)):
                    bad = True
        if s.choices is not None and value not in s.choices:
            bad = True
        if bad:
            raise ValueError(f"The '{s.name}' parameter of {owner} must be {s.describe_range()}. Got {value!r}.")


def _coerce(s: ParamSpec, raw: Any, owner: str) -> Any:
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    try:
        if s.type is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if s.type is int:
            return int(float(text)) if float(text).is_integer() else float(text)
        if s.type is float:
            return float(text)
    except ValueError:
        raise ValueError(f"The '{s.name}' parameter of {owner} must be {s.describe_range()}. Got {raw!r}.") from None
    return text


def build(params_cls: type, values: Mapping[str, Any] | None, owner: str) -> Any:
    """Make a validated params object from a mapping (strings from the CLI are parsed)."""
    values = dict(values or {})
    known = {s.name: s for s in specs(params_cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        valid = ", ".join(known) or "none"
        raise ValueError(f"Unknown parameter {unknown[0]!r} for {owner}; valid parameters: {valid}.")
    kwargs = {k: _coerce(known[k], v, owner) for k, v in values.items()}
    obj = params_cls(**kwargs)
    validate(obj, owner)
    return obj


def as_dict(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params)
