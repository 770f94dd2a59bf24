"""The docs in docs/ cover what the code offers, and nothing in the repo cites files that do not ship."""
from __future__ import annotations

import re
from pathlib import Path

from dataval_core import docgen
from dataval_core.cli import _parser
from dataval_core.embeddings import EMBEDDINGS
from dataval_core.methods.baselines import RandomValuator
from dataval_core.registry import ValuatorSpec, get_spec, list_valuators

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_methods_page_says_what_each_class_says():
    """docs/methods.md's block per method (summary, low value, labels, reference, cost, parameters) is the
    class's: edit the class and run `python -m dataval_core.docgen`."""
    text = (DOCS / "methods.md").read_text()
    assert docgen.rewrite_methods(text, list_valuators()) == text, "run: python -m dataval_core.docgen"
    for spec in list_valuators():
        section = text.split(f"## `{spec.name}`\n", 1)[1].split("\n## ", 1)[0]
        assert section.strip().startswith(docgen.BEGIN), spec.name
        assert spec.load().low_value in section and spec.load().summary in section


class _NewValuator(RandomValuator):
    """A method the docs have not heard of."""

    name = "brand_new"
    summary = "A method added after the page was written."
    low_value = "low = never seen before."


def test_docgen_replaces_a_stale_block_keeps_the_prose_and_adds_a_new_method():
    random, new = get_spec("random"), ValuatorSpec("brand_new", f"{__name__}:_NewValuator")
    stale = (f"# Methods\n\n## `random`\n\n{docgen.BEGIN}\nAn old summary.\n{docgen.END}\n\n"
             "Hand-written prose.\n")
    text = docgen.rewrite_methods(stale, [random, new])
    assert "An old summary." not in text and RandomValuator.summary in text
    assert "Hand-written prose." in text.split("## `brand_new`")[0]
    assert text.split("## `brand_new`\n", 1)[1].strip() == docgen.method_block(_NewValuator)
    assert docgen.rewrite_methods(text, [random, new]) == text


def test_embeddings_table_is_the_registry():
    """docs/data-formats.md's embeddings table is written from embeddings.EMBEDDINGS, one row per kind."""
    text = (DOCS / "data-formats.md").read_text()
    assert docgen.rewrite_embeddings(text) == text, "run: python -m dataval_core.docgen"
    for kind in EMBEDDINGS.values():
        assert f"| `{kind.forms[0]}`" in text and f" | {kind.help} |" in text, kind.forms


def test_every_cli_verb_is_documented():
    text = (DOCS / "cli.md").read_text()
    sub = next(a for a in _parser()._actions if a.dest == "command")
    for verb in sub.choices:
        assert f"## `dataval {verb}" in text, verb


def test_doc_links_resolve_and_no_file_cites_what_does_not_ship():
    for doc in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).is_file(), f"{doc.name} links to missing {target}"
    files = [p for ext in ("py", "md", "toml") for p in ROOT.rglob(f"*.{ext}")
             if not {".venv", ".git", "results", "artifacts"} & set(p.relative_to(ROOT).parts)]
    cited = re.compile(r"PRODUCT\.md|ALGORITHMS\.md|STYLE\.md|ENVIRONMENT\.md|\.\./shared")
    offenders = [str(p.relative_to(ROOT)) for p in files if p != Path(__file__) and cited.search(p.read_text())]
    assert not offenders


def test_every_path_the_architecture_doc_names_exists():
    text = (DOCS / "architecture.md").read_text()
    named = set(re.findall(r"(?<![\w<./-])((?:dataval_core|ui|app_pages|tests|docs|sample_data)/[\w./-]*|app\.py)",
                           text))
    assert len(named) > 30
    missing = sorted(p for p in named if not (ROOT / p.rstrip(".")).exists())
    assert not missing, f"architecture.md names paths that do not exist: {missing}"
