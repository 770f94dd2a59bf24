"""Parameter forms generated from a method's ``Params`` dataclass (no per-method code)."""
from __future__ import annotations

from typing import Any

import streamlit as st

from dataval_core.embeddings import EMBEDDINGS
from dataval_core.params import specs


def params_form(params_cls: type, key_prefix: str) -> dict[str, Any]:
    """Draw one input per parameter (ranges and help from the dataclass) and return the values.

    Ints and floats become number inputs bounded by the declared range (open ends are
    left to the engine's validation, which explains them in one sentence), choices a
    select box, bools a checkbox, anything else a text input.
    """
    values: dict[str, Any] = {}
    fields = specs(params_cls)
    if not fields:
        st.caption("This method has no parameters.")
        return values
    cols = st.columns(min(3, len(fields)))
    for i, s in enumerate(fields):
        key = f"{key_prefix}_{s.name}"
        label = s.name.replace("_", " ")
        help_text = f"{s.help} ({s.describe_range()})" if s.help else s.describe_range()
        with cols[i % len(cols)]:
            if s.choices is not None:
                options = list(s.choices)
                values[s.name] = st.selectbox(label, options, index=options.index(s.default), key=key, help=help_text)
            elif s.type is bool:
                values[s.name] = st.checkbox(label, value=bool(s.default), key=key, help=help_text)
            elif s.type is int:
                values[s.name] = int(st.number_input(
                    label, value=int(s.default), step=1, key=key, help=help_text,
                    min_value=None if s.low is None else int(s.low) + (1 if s.low_open else 0),
                    max_value=None if s.high is None else int(s.high) - (1 if s.high_open else 0)))
            elif s.type is float:
                values[s.name] = float(st.number_input(
                    label, value=float(s.default), key=key, help=help_text, format="%g",
                    min_value=None if s.low is None or s.low_open else float(s.low),
                    max_value=None if s.high is None or s.high_open else float(s.high)))
            else:
                values[s.name] = st.text_input(label, value=str(s.default), key=key, help=help_text)
    return values


EMBEDDING_HELP = "The features a method sees, cached on disk:\n\n" + "\n".join(
    f"- {' or '.join(f'`{form}`' for form in e.forms)}: {e.help}." for e in EMBEDDINGS.values())
