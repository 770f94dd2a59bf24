"""The parts of docs/ written from the code, so the pages cannot drift from it.

- docs/methods.md: each ``## `name` `` section opens with a block written from the method's class:
  summary, what a low value means, the labels it values, whether it needs a reference, its default
  embedding, its cost and its parameter table. The prose after the block is written by hand.
- docs/data-formats.md: the embeddings table, one row per kind of ``embeddings.EMBEDDINGS``.

Each block lies between :data:`BEGIN` and :data:`END`. ``python -m dataval_core.docgen`` rewrites
them (and adds a section for a newly registered method); tests/test_docs.py fails when a page
differs from what it would write.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .embeddings import EMBEDDINGS
from .params import specs
from .registry import ValuatorSpec, list_valuators
from .valuator import BaseValuator

BEGIN = "<!-- written from the code by `python -m dataval_core.docgen`; edit the code, not this block -->"
END = "<!-- end of the block written from the code -->"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def method_block(cls: type[BaseValuator]) -> str:
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


def embeddings_block() -> str:
    """The embeddings table of docs/data-formats.md, one row per kind."""
    rows = [f"| {', '.join(f'`{f}`' for f in e.forms)} | {e.help} |" for e in EMBEDDINGS.values()]
    return "\n".join([BEGIN, "| name | what it is |", "|---|---|", *rows, END])


def rewrite_methods(text: str, valuators: Sequence[ValuatorSpec]) -> str:
    """``text`` (docs/methods.md) with each method's block as its class writes it; a method without a
    section gets one at the end. Text outside the blocks is kept as it is."""
    for spec in valuators:
        heading = f"## `{spec.name}`\n"
        block = method_block(spec.load())
        if heading not in text:
            text = f"{text.rstrip()}\n\n{heading}\n{block}\n"
            continue
        head, rest = text.split(heading, 1)
        rest = rest.lstrip("\n")
        if rest.startswith(BEGIN):
            rest = rest.split(END, 1)[1].lstrip("\n")
        text = f"{head}{heading}\n{block}\n" + (f"\n{rest}" if rest else "")
    return text


def rewrite_embeddings(text: str) -> str:
    """``text`` (docs/data-formats.md) with its one block replaced by :func:`embeddings_block`."""
    head, found, rest = text.partition(BEGIN)
    if not found:
        raise ValueError(f"docs/data-formats.md has no {BEGIN!r} line where the embeddings table goes.")
    return head + embeddings_block() + rest.split(END, 1)[1]


def main() -> None:
    for name, rewrite in (("methods.md", lambda t: rewrite_methods(t, list_valuators())),
                          ("data-formats.md", rewrite_embeddings)):
        path = DOCS / name
        path.write_text(rewrite(path.read_text()))


if __name__ == "__main__":
    main()
