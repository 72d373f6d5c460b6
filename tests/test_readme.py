"""The README's promises: its two commands, and its kernel example runs as written."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_readme_starts_with_the_two_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert block == [
        "pip install -e . && python -m fastdepth.sweep --seeds 50",
        'pip install -e ".[test]" && python -m pytest --benchmark-disable',
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert block[1] in ci, ".ci/run must run the README's test command"


def test_kernel_example_runs(capsys):
    code = re.search(r"```python\n(.*?)```", _section("Using the kernels in your own study"), re.S)
    namespace: dict = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert out.startswith("loss ") and "dead units per layer" in out
    assert namespace["grad"].shape == (namespace["layout"].n_params,)
    assert namespace["W0"].shape == (2, 16)
