"""The documentation points only at things that exist, inside the repository."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = ("kernels", "fastdepth", "tests", "bench", "docs", "experiments", "examples", ".ci")
# a repository path: a top-level folder, then path characters; no placeholders (<run>)
_TOPS = "|".join(re.escape(t) for t in TOP)
PATH = re.compile(r"(?<![\w./-])((?:" + _TOPS + r")/[\w./-]*[\w/])")
# Names a user cannot open: the design notes that stayed outside the repository, and
# paths of the machine the project was developed on (spelled so this file has neither).
OUTSIDE = ("DESIGN" + ".md", "/wo" + "rk/")


def _tracked(*patterns: str) -> list[Path]:
    out: list[Path] = []
    for pat in patterns:
        out += [p for p in ROOT.glob(pat) if ".git" not in p.parts and "__pycache__" not in p.parts]
    return sorted(set(out))


def _cited(text: str) -> set[str]:
    return {m.rstrip("./") for m in PATH.findall(text) if "*" not in m}


DOCS = _tracked("README.md", "docs/*.md", "experiments/*.md", "experiments/*/RESULTS.md")
SOURCES = _tracked("kernels/*.py", "fastdepth/**/*.py", "bench/**/*.py", "tests/*.py")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_document_names_exists(doc):
    missing = sorted(p for p in _cited(doc.read_text()) if not (ROOT / p).exists())
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_every_path_a_docstring_or_comment_names_exists():
    missing = {}
    for src in SOURCES:
        bad = sorted(p for p in _cited(src.read_text()) if not (ROOT / p).exists())
        if bad:
            missing[str(src.relative_to(ROOT))] = bad
    assert not missing, f"paths cited in the code that do not exist: {missing}"


def test_nothing_points_outside_the_repository():
    offenders = [
        str(p.relative_to(ROOT))
        for p in [*DOCS, *SOURCES, ROOT / "setup.cfg", ROOT / "pyproject.toml"]
        if any(name in p.read_text() for name in OUTSIDE)
    ]
    assert not offenders, f"files that cite documents users cannot read: {offenders}"


def test_setup_cfg_lists_every_package():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {"fastdepth", "fastdepth.kernels"} | {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "fastdepth").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert listed == found, f"setup.cfg packages: missing {found - listed}, extra {listed - found}"
