"""The docs in docs/ cover what the code offers, and nothing in the repo cites files that do not ship."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dataval_core.cli import _parser
from dataval_core.params import specs
from dataval_core.registry import list_valuators

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.mark.parametrize("spec", list_valuators(), ids=lambda s: s.name)
def test_every_method_and_parameter_default_is_documented(spec):
    text = (DOCS / "methods.md").read_text()
    assert f"## `{spec.name}`" in text
    section = text.split(f"## `{spec.name}`", 1)[1].split("\n## ", 1)[0]
    for s in specs(spec.load().Params):
        assert f"| `{s.name}` | `{s.default!r}` |" in section, f"{spec.name}.{s.name} (default {s.default!r})"


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
