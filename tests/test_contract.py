"""One contract over every registered method (in the spirit of sklearn's parametrize_with_checks)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dataval_core import get_valuator, list_valuators
from dataval_core.params import specs

#: smaller-than-default settings so the whole contract runs in seconds; defaults are benchmarked separately
FAST = {
    "data_oob": {"n_estimators": 40},
}
METHODS = [s.name for s in list_valuators()]


def run(name, problem, seed=0, **kw):
    return get_valuator(name, FAST.get(name), seed=seed).fit(problem, **kw)


@pytest.mark.parametrize("name", METHODS)
def test_values_align_and_repeat(name, blobs):
    problem, _ = blobs
    a = run(name, problem, seed=3)
    b = run(name, problem, seed=3)
    assert a.values.shape == (problem.n,)
    assert np.all(np.isfinite(a.values))
    assert list(a.ids) == list(problem.ids)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.method == name and a.seed == 3 and a.timings["total"] >= 0
    if a.suggested_labels is not None:
        assert set(a.suggested_labels) <= set(problem.classes) | {None}


@pytest.mark.parametrize("name", METHODS)
def test_progress_reaches_the_end(name, blobs):
    problem, _ = blobs
    events = []
    run(name, problem, progress=events.append)
    assert events, "no progress events"
    assert events[-1].done == events[-1].total
    for stage in {e.stage for e in events}:
        done = [e.done for e in events if e.stage == stage]
        assert done == sorted(done), f"progress of {stage!r} went backwards"


@pytest.mark.parametrize("name", METHODS)
def test_flipped_labels_rank_low(name, blobs):
    problem, noisy = blobs
    auroc = roc_auc_score(noisy, -run(name, problem).values)
    if name == "random":
        assert 0.25 < auroc < 0.75
    else:
        assert auroc > 0.8, f"{name}: AUROC {auroc:.2f} on well-separated blobs"


@pytest.mark.parametrize("name", METHODS)
def test_bad_parameters_rejected_readably(name):
    cls = get_valuator(name).__class__
    with pytest.raises(ValueError, match=f"Unknown parameter 'no_such_param' for {name}"):
        get_valuator(name, {"no_such_param": 1}).resolved_params()
    for spec in specs(cls.Params):
        if spec.low is not None:
            bad = spec.low - 1
        elif spec.choices is not None:
            bad = "not-a-choice"
        else:
            continue
        with pytest.raises(ValueError, match=rf"The '{spec.name}' parameter of {name} must be"):
            get_valuator(name, {spec.name: bad}).resolved_params()



@pytest.mark.parametrize("spec", list_valuators(), ids=lambda s: s.name)
def test_class_says_what_the_method_is(spec):
    """The registry, `dataval methods`, the app and docs/methods.md read these from the class."""
    cls = spec.load()
    assert cls.name == spec.name
    for field in ("summary", "low_value", "cost"):
        text = getattr(cls, field)
        assert text.strip() and "\n" not in text and text == " ".join(text.split()), f"{spec.name}.{field}: {text!r}"
    assert re.search(r"\blow\b", cls.low_value), f"{spec.name}.low_value says what a low value means"


# Cancellation: tests/test_cancel_latency.py sets the flag inside every stage of every method, on data
# where each stage lasts longer than the 2 s the contract allows, and measures the time to stop.
