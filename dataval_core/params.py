"""Declarative method parameters: frozen dataclasses with validated ranges.

Each valuator declares a ``Params`` dataclass whose fields carry their range and
help text via :func:`param`. The same declaration validates input (one readable
sentence per error, as scikit-learn does), parses ``--param KEY=VALUE`` from the
CLI and renders the app's parameter form.

Every number has both bounds, and no number may be infinite or NaN. Limits that
depend on the machine are declared here once and follow its cores and memory:
:data:`CORES` (worker counts), :data:`MEMORY_GB` (memory limits), :data:`MAX_OT_SIDE`
(rows per side of a dense OT problem) and :data:`MAX_HIDDEN_PARAMS` (hidden layer widths,
the ``widths`` kind).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any


def _memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a small laptop
        return 8 * 2**30


#: CPU cores this process may use: the cap of every worker count
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
#: physical memory in GiB, rounded down (at least 4, so defaults stay valid on small machines): caps memory limits
MEMORY_GB = max(4, _memory_bytes() // 2**30)
#: weights between the hidden layers, all of them together: float32 weights, gradients and two Adam
#: moments (16 bytes each) within an eighth of the memory
MAX_HIDDEN_PARAMS = _memory_bytes() // 8 // 16
#: the widest hidden layer (a square weight matrix at the cap above)
MAX_LAYER_WIDTH = math.isqrt(MAX_HIDDEN_PARAMS)
#: hidden layers at most
MAX_LAYERS = 8
#: rows per side of one dense OT problem (sava batches, label-cost samples): its cost matrix and solver
#: state (about 64 bytes per entry for the network simplex) within a quarter of the memory
MAX_OT_SIDE = math.isqrt(_memory_bytes() // 4 // 64)


def param(default: Any, *, low: float | None = None, high: float | None = None,
          low_open: bool = False, high_open: bool = False,
          choices: Sequence[Any] | None = None, kind: str | None = None, help: str = "") -> Any:
    """A dataclass field with its valid range (``[low, high]``, open ends optional), choices or kind.

    ``kind="widths"`` marks a comma-separated list of hidden layer widths, each in
    ``[1, MAX_LAYER_WIDTH]``, at most ``MAX_LAYERS`` of them, with at most
    ``MAX_HIDDEN_PARAMS`` weights between consecutive layers in all (the sum over the layer pairs).
    """
    meta = {"low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "choices": tuple(choices) if choices is not None else None, "kind": kind, "help": help}
    return field(default=default, metadata=meta)


def parse_widths(text: str) -> tuple[int, ...] | None:
    """``"128,32"`` → (128, 32), ``""`` → () (no hidden layer); None if the text breaks the widths rules."""
    try:
        widths = tuple(int(s) for s in str(text).replace(" ", "").split(",") if s)
    except ValueError:
        return None
    if len(widths) > MAX_LAYERS or any(not 1 <= w <= MAX_LAYER_WIDTH for w in widths):
        return None
    if sum(a * b for a, b in zip(widths, widths[1:])) > MAX_HIDDEN_PARAMS:
        return None
    return widths


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
    kind: str | None = None

    def describe_range(self) -> str:
        if self.kind == "widths":
            return (f"comma-separated hidden layer widths such as '128,32' (each 1 to {MAX_LAYER_WIDTH:,}, "
                    f"at most {MAX_LAYERS} layers, at most {MAX_HIDDEN_PARAMS:,} weights between them in all)")
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
                             m.get("low_open", False), m.get("high_open", False), m.get("choices"), m.get("help", ""),
                             m.get("kind")))
    return out


def _out_of_range(s: ParamSpec, value: Any) -> bool:
    """True for a non-number, NaN, an infinity, a fraction for an int, or a value outside the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return True
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float: beyond every range too
        return True
    if not math.isfinite(number) or (s.type is int and not number.is_integer()):
        return True
    if s.low is not None and (number < s.low or (s.low_open and number == s.low)):
        return True
    return s.high is not None and (number > s.high or (s.high_open and number == s.high))


def validate(params: Any, owner: str) -> None:
    """Raise ``ValueError`` with one readable sentence for the first out-of-range field."""
    for s in specs(type(params)):
        value = getattr(params, s.name)
        bad = False
        if s.type is bool:
            bad = not isinstance(value, bool)
        elif s.type in (int, float):
            bad = _out_of_range(s, value)
        if s.choices is not None and value not in s.choices:
            bad = True
        if s.kind == "widths" and (not isinstance(value, str) or parse_widths(value) is None):
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
