"""Every parameter of every registered method, fed its bounds ± ε, ±inf and NaN (as numbers and as CLI text).

Each value either fails with a ValueError that names the parameter (when validated, or when
the run finds it too small for the data), or is accepted and gives a valid run (finite values,
one per sample) on a tiny problem.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_blobs_problem

from dataval_core import get_valuator, list_valuators
from dataval_core.params import (
    CORES,
    MAX_HIDDEN_PARAMS,
    MAX_LAYER_WIDTH,
    MAX_LAYERS,
    MAX_OT_SIDE,
    MEMORY_GB,
    build,
    specs,
)

METHODS = [s.name for s in list_valuators()]
#: runs at an upper bound that would take minutes on two cores are checked for acceptance only
SLOW_AT_HIGH = {("dvgs", "epochs"), ("dvgs", "restarts"), ("dvgs", "scores_per_restart"), ("dvemb", "epochs"),
                ("lossval", "epochs"), ("lossval", "sinkhorn_iters"), ("data_oob", "n_estimators")}
#: smaller-than-default settings for the parameters not under test, so every run takes well under a second
FAST = {"data_oob": {"n_estimators": 10}}


def _eps(bound: float, is_int: bool) -> float:
    return 1 if is_int else max(1e-9, abs(bound) * 1e-9)


def _probes(s) -> list:
    """The values to try for one numeric parameter: bounds ± ε, infinities and NaN."""
    is_int = s.type is int
    out = [math.inf, -math.inf, math.nan]
    for bound in (s.low, s.high):
        e = _eps(bound, is_int)
        out += [bound - e, bound, bound + e]
    return out


def _cases():
    for name in METHODS:
        cls = next(v for v in list_valuators() if v.name == name).load()
        for s in specs(cls.Params):
            yield pytest.param(name, cls, s, id=f"{name}-{s.name}")


@pytest.fixture(scope="module")
def tiny():
    return make_blobs_problem(n_valued=24, n_target=12, n_classes=2, d=3)[0]


def _accepted(cls, name, key, value):
    """The params object, or None after checking the ValueError names the parameter."""
    for given in (value, repr(value) if isinstance(value, float) else str(value)):
        try:
            obj = build(cls.Params, {**FAST.get(name, {}), key: given}, name)
        except ValueError as exc:
            assert f"'{key}'" in str(exc) and name in str(exc), str(exc)
            assert "\n" not in str(exc)
            obj = None
        if given is value:
            first = obj
        else:
            assert (obj is None) == (first is None), f"{key}={value!r}: number and text disagree"
    return first


@pytest.mark.parametrize("name,cls,s", list(_cases()))
def test_every_parameter_bound(name, cls, s, tiny):
    runs = []
    if s.type in (int, float):
        assert s.low is not None and s.high is not None, f"{name}.{s.name} must declare both bounds"
        for value in _probes(s):
            obj = _accepted(cls, name, s.name, value)
            if not math.isfinite(value):
                assert obj is None, f"{name}.{s.name}={value!r} was accepted"
                continue
            outside = value < s.low or value > s.high or (s.low_open and value == s.low) or \
                (s.high_open and value == s.high)
            assert (obj is None) == outside, f"{name}.{s.name}={value!r}"
            if obj is not None and value in (s.low, s.high, s.low + _eps(s.low, s.type is int)):
                if not (value == s.high and (name, s.name) in SLOW_AT_HIGH):
                    runs.append(obj)
    elif s.kind == "widths":
        bad = ["0", "-1", "inf", "nan", "1.5", "a,b", f"{MAX_LAYER_WIDTH + 1}", "100000,100000",
               ",".join(["8"] * (MAX_LAYERS + 1)), f"{MAX_LAYER_WIDTH},{MAX_HIDDEN_PARAMS // MAX_LAYER_WIDTH + 1}",
               ",".join([str(MAX_LAYER_WIDTH // 2)] * MAX_LAYERS)]  # each pair fits, the stack does not
        for value in bad:
            assert _accepted(cls, name, s.name, value) is None, value
        for value in ("", "1", "4,2"):
            runs.append(_accepted(cls, name, s.name, value))
        assert _accepted(cls, name, s.name, str(MAX_LAYER_WIDTH)) is not None
    elif s.choices is not None:
        assert _accepted(cls, name, s.name, "not-a-choice") is None
        runs += [_accepted(cls, name, s.name, c) for c in s.choices]
    for params in runs:
        try:
            result = get_valuator(name, params, seed=0).fit(tiny)
        except ValueError as exc:  # e.g. a memory limit too small for the problem: it must say which
            assert s.name in str(exc), str(exc)
            continue
        assert result.values.shape == (tiny.n,) and np.all(np.isfinite(result.values)), (name, params)


def test_machine_caps():
    assert 1 <= CORES and MEMORY_GB >= 4
    assert MAX_LAYER_WIDTH ** 2 <= MAX_HIDDEN_PARAMS
    # 100000 x 100000 float32 weights would be 40 GB before gradients and Adam state
    assert MAX_HIDDEN_PARAMS * 16 <= MEMORY_GB * 2**30 / 4
    sava = next(v for v in list_valuators() if v.name == "sava").load()
    assert next(s for s in specs(sava.Params) if s.name == "n_jobs").high == CORES
    # one dense OT problem of MAX_OT_SIDE rows a side (cost + solver state, 64 bytes an entry) fits in a quarter
    assert next(s for s in specs(sava.Params) if s.name == "batch_size").high == MAX_OT_SIDE
    assert MAX_OT_SIDE ** 2 * 64 <= MEMORY_GB * 2**30 / 4 + 2**30
