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


# The README's tables of what a study can vary, and docs/columns.md, are checked against the
# registries they describe: a new dataset, activation, init, optimizer, figure or column that
# is not documented (or a documented one that is gone) fails here.


def _table_after(text: str, marker: str) -> list[list[str]]:
    """Rows (cells, backticks stripped) of the first Markdown table after ``marker``."""
    start = text.index(marker)
    lines = text[start:].splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[i + 2 :]:  # skip the header and the |---| rule
        if not line.startswith("|"):
            break
        cells = [c.strip().replace("`", "") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(cells)
    return rows


def _names(text: str, marker: str) -> list[str]:
    return [row[0] for row in _table_after(text, marker)]


def test_readme_datasets_table_matches_the_registry():
    from fastdepth.datasets.registry import DATASETS

    rows = _table_after(README, "**Datasets**")
    assert [r[0] for r in rows] == list(DATASETS)
    for name, n_in, task, params, _ in rows:
        spec = DATASETS[name]
        assert int(n_in) == spec.n_in, name
        assert task.split()[0] == spec.task, name
        for key, value in spec.params.items():
            assert f"{key}={value!r}" in params, (name, key)


def test_readme_activations_table_matches_the_vocabulary():
    from fastdepth.kernels.vocab import ACTIVATIONS

    rows = _table_after(README, "**Activations**")
    assert sorted(r[0] for r in rows) == sorted(ACTIVATIONS.names)
    for name, _, init, units in rows:
        act = ACTIVATIONS.entry(name)
        assert init == act.init, name
        assert units.split(":")[0] == act.units, name


def test_readme_inits_table_matches_the_schemes_and_pairings():
    from fastdepth.kernels.vocab import ACTIVATIONS

    from fastdepth.init import INIT_SCHEMES

    rows = _table_after(README, "**Inits**")
    canonical = list(dict.fromkeys(s.name for s in INIT_SCHEMES.values()))
    assert [r[0] for r in rows] == canonical
    for name, aliases, _, suits in rows:
        want = {a for a, s in INIT_SCHEMES.items() if s.name == name and a != name}
        assert {a.strip() for a in aliases.split(",") if a.strip()} == want, name
        paired = {a.name for a in ACTIVATIONS.entries if a.init == name}
        assert {a.strip() for a in suits.split(",") if a.strip()} == paired, name


def test_readme_optimizers_losses_schedules_match_the_vocabularies():
    from fastdepth.kernels.vocab import LOSSES, OPTIMIZERS, SCHEDULES

    rows = _table_after(README, "**Optimizers**")
    assert [r[0] for r in rows] == list(OPTIMIZERS.names)
    for name, hyper, _ in rows:
        flags = set(re.findall(r"--([a-z0-9-]+)", hyper))
        assert flags == {h.replace("_", "-") for h in OPTIMIZERS.entry(name).hyper}, name
    assert _names(README, "| loss (`--loss`)") == list(LOSSES.names)
    assert _names(README, "| schedule (`--schedule`)") == list(SCHEDULES.names)


def test_readme_figures_table_matches_the_figure_registry():
    from fastdepth.plots.registry import FIGURES

    assert _names(README, "| figure | what it shows |") == list(FIGURES)


def test_readme_store_tables_match_the_schema():
    from fastdepth.store.schema import PART_DIRS

    assert sorted(n.split()[0] for n in _names(README, "| table | one row per |")) == sorted(
        PART_DIRS
    )


def test_columns_page_names_every_column_of_every_table():
    import dataclasses

    from fastdepth.config import RunConfig
    from fastdepth.store.schema import SCHEMAS, TABLES

    page = (ROOT / "docs" / "columns.md").read_text()
    config = {f.name for f in dataclasses.fields(RunConfig)}
    for table in TABLES:
        marker = f"## {table}:"
        documented = set()
        for row in _table_after(page, marker):
            documented |= {c.strip() for c in row[0].split(",")}
        want = set(SCHEMAS[table].names)
        if table == "runs":
            want -= config  # documented as "every field of RunConfig"
        assert documented == want, (table, sorted(documented ^ want))
