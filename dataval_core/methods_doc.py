"""docs/methods.md's facts about each method, written from the method's class so the page cannot drift.

Each ``## `name` `` section of docs/methods.md opens with a block between :data:`BEGIN` and
:data:`END`: the class's summary, what a low value means, the labels it values, whether it needs
a reference, its default embedding, its cost and its parameter table. The prose after the block
is written by hand. ``python -m dataval_core.methods_doc`` rewrites the blocks (and adds a
section for a newly registered method); tests/test_docs.py fails when the page differs from
what it would write.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .params import specs
from .registry import ValuatorSpec, list_valuators
from .valuator import BaseValuator

BEGIN = "<!-- written from the class by `python -m dataval_core.methods_doc`; edit the class, not this block -->"
END = "<!-- end of the block written from the class -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "methods.md"


def facts(cls: type[BaseValuator]) -> str:
    """The markdown block of one method: summary, low value, labels, reference, embedding, cost, parameters."""
    reference = "needed" if cls.needs_reference else "not needed (every row is valued on its own)"
    lines = [BEGIN, cls.summary, "",
             f"- **A low value:** {cls.low_value}",
             f"- **Labels:** {' and '.join(cls.tasks())}. **Reference rows:** {reference}. "
             f"**Default embedding:** `{cls.default_embedding}`.",
             f"- **Cost:** {cls.cost}", ""]
    params = specs(cls.Params)
    if params:
        lines += ["| parameter | default | meaning |", "|---|---|---|",
                  *(f"| `{s.name}` | `{s.default!r}` | {s.help} |" for s in params)]
    else:
        lines.append("No parameters.")
    return "\n".join([*lines, END])


def rewrite(text: str, valuators: Sequence[ValuatorSpec]) -> str:
    """``text`` (docs/methods.md) with each method's block as its class writes it; a method without a
    section gets one at the end. Text outside the blocks is kept as it is."""
    for spec in valuators:
        heading = f"## `{spec.name}`\n"
        block = facts(spec.load())
        if heading not in text:
            text = f"{text.rstrip()}\n\n{heading}\n{block}\n"
            continue
        head, rest = text.split(heading, 1)
        rest = rest.lstrip("\n")
        if rest.startswith(BEGIN):
            rest = rest.split(END, 1)[1].lstrip("\n")
        text = f"{head}{heading}\n{block}\n" + (f"\n{rest}" if rest else "")
    return text


def main() -> None:
    DOC.write_text(rewrite(DOC.read_text(), list_valuators()))


if __name__ == "__main__":
    main()
