"""The command-line layer: the ``fastdepth`` console script, ``python -m fastdepth``,
flags for every RunConfig field, uniform list syntax, choices read off the registries."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from fastdepth.kernels.vocab import ACTIVATIONS, LOSSES, LR_RULES, OPTIMIZERS, SCHEDULES

import fastdepth as fd
from fastdepth import __main__ as top
from fastdepth import datasets, sweep
from fastdepth.config import DEFAULTS, DTYPES
from fastdepth.config.run import FIELD_KINDS
from fastdepth.init import INIT_SCHEMES, RESIDUAL_INITS

TIMEOUT = 300


def grid_of(*argv: str) -> fd.Grid:
    return sweep.build_grid(sweep.make_parser().parse_args(list(argv)))


def _script() -> Path:
    eps = importlib.metadata.entry_points(group="console_scripts")
    assert [e.value for e in eps if e.name == "fastdepth"] == ["fastdepth.__main__:main"]
    path = Path(sys.executable).parent / "fastdepth"
    assert path.is_file(), f"{path} missing: reinstall with pip install -e ."
    return path


@pytest.mark.parametrize("how", ["script", "module"])
def test_console_script_and_python_m_fastdepth(how, tmp_path):
    cmd = [str(_script())] if how == "script" else [sys.executable, "-m", "fastdepth"]
    run = lambda *a: subprocess.run([*cmd, *a], capture_output=True, text=True,  # noqa: E731
                                    timeout=TIMEOUT, cwd=tmp_path)  # fmt: skip
    r = run("--version")
    assert r.returncode == 0 and r.stdout == f"fastdepth {fd.__version__}\n"
    r = run("--help")
    assert r.returncode == 0 and "sweep" in r.stdout and "report" in r.stdout
    r = run("sweep", "--seeds", "2", "--depths", "1:2", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "8 runs = dataset[2] x depth[2] x seed[2]" in r.stdout and not list(tmp_path.iterdir())
    r = run("report", str(tmp_path / "missing"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = run("swep")
    assert r.returncode == 2 and r.stderr.startswith("error: unknown command 'swep'; did you")
    r = run()
    assert r.returncode == 2 and "error: give a command" in r.stderr


@pytest.mark.parametrize("command_line", [None, "fastdepth.sweep", "fastdepth.kernels.precompile"])
def test_garbage_collector_is_frozen_after_imports_on_command_lines_only(command_line):
    """A command line (or a first-use compile worker) freezes what its imports made (no
    full collections over it later, fastdepth/_cli_gc.py); ``import fastdepth`` in a
    program leaves the collector alone."""
    fake = f"sys.orig_argv = [sys.executable, '-m', {command_line!r}]; " if command_line else ""
    code = (f"import gc, sys; {fake}import fastdepth; "
            "print(gc.isenabled(), gc.get_freeze_count() > 0)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=TIMEOUT, check=True)  # fmt: skip
    assert out.stdout.split() == ["True", str(command_line is not None)]


def test_main_dispatches_in_process(capsys):
    assert top.main(["sweep", "--version"]) == 0
    assert capsys.readouterr().out == f"fastdepth {fd.__version__}\n"
    assert top.main(["sweep", "--seeds", "1", "--depths", "1", "--dry-run"]) == 0
    assert "2 runs" in capsys.readouterr().out


def test_help_lists_choices_from_the_registries_and_exit_codes():
    text = " ".join(sweep.make_parser().format_help().split())
    for names in (datasets.DATASETS, ACTIVATIONS, OPTIMIZERS, SCHEDULES, RESIDUAL_INITS, DTYPES,
                  {s.name for s in INIT_SCHEMES.values()}, LR_RULES):  # fmt: skip
        for name in names:
            assert name in text, name
    for e in LOSSES.entries:
        assert f"{e.name} ({e.task})" in text
    assert "exit codes: 0 done" in text and "2 invalid" in text and "130" in text


# A non-default value of every RunConfig field, as command-line text, and what it becomes.
EXAMPLES = {
    "dataset": ("xor", "xor"), "n_train": ("64", 64), "n_test": ("32", 32),
    "noise": ("0.2", 0.2), "data_seed": ("3", 3), "depth": ("2", 2), "width": ("8", 8),
    "widths": ("8x4", (8, 4)), "activation": ("leaky_relu", "leaky_relu"),
    "alpha": ("0.2", 0.2), "residual": ("true", True), "residual_block": ("3", 3),
    "residual_init": ("zero", "zero"), "init": ("meanfield", "meanfield"),
    "gain": ("none", None), "sigma_w2": ("2.0", 2.0), "sigma_b2": ("0.1", 0.1),
    "loss": ("bce", "bce"), "optimizer": ("momentum", "momentum"), "lr": ("0.3", 0.3),
    "momentum": ("0.5", 0.5), "beta1": ("0.8", 0.8), "beta2": ("0.99", 0.99),
    "eps": ("1e-6", 1e-6), "weight_decay": ("0.001", 0.001), "clip": ("2.5", 2.5),
    "schedule": ("cosine", "cosine"), "batch_size": ("16", 16), "epochs": ("5", 5),
    "log_every": ("2", 2), "eval_every": ("3", 3), "dtype": ("float32", "float32"),
    "seed": ("4:4", 4),  # --seeds 4 is a count
    "snapshot_every": ("7", 7), "sharpness_every": ("25", 25), "sharpness_k": ("2", 2),
    "sharpness_iters": ("30", 30), "sharpness_tol": ("0", 0.0),
    "lr_rule": ("sharpness", "sharpness"),
    "count_regions": ("segment", "segment"),
    "regions_resolution": ("64", 64),
}  # fmt: skip


@pytest.mark.parametrize("field", sorted(DEFAULTS))
def test_every_runconfig_field_is_reachable_by_a_flag_and_by_set(field):
    if field == "dataset_params":
        g = grid_of("--datasets", "rings", "--set", "dataset_params.k=2,3", "--seeds", "1")
        assert [r.dataset_kwargs for r in g] == [{"k": 2}, {"k": 3}] * 5
        return
    text, want = EXAMPLES[field]
    # residual widths need equal widths; meanfield needs sigma_w2; the rest stand alone
    extra = {"residual_block": ["--residual"], "residual_init": ["--residual", "--depths", "4"],
             "init": ["--sigma-w2", "2"], "sigma_w2": ["--inits", "meanfield"],
             "sigma_b2": ["--inits", "meanfield", "--sigma-w2", "2"],
             "alpha": ["--activations", "leaky_relu"],
             "batch_size": ["--n-train", "64"],
             "regions_resolution": ["--count-regions", "grid"]}  # fmt: skip
    flags = [f for f, fld, *_ in sweep.GRID_FLAGS if fld == field]
    ways = [["--set", f"{field}={text}"]] if field not in ("residual", "seed") else []
    ways += [[flags[0], text]] if flags else []
    if field == "residual":
        ways.append(["--residual"])
    assert ways, field
    for way in ways:
        small = [] if field in ("depth", "widths") else ["--depths", "1"]
        small += [] if field == "seed" else ["--seeds", "1"]
        g = grid_of(*way, *extra.get(field, []), *small)
        got = {getattr(r, field) if field != "widths" else r.hidden_widths for r in g}
        assert got == {want}, (way, got)


@pytest.mark.parametrize(
    "argv, field, values",
    [
        (["--depths", "1:4"], "depth", [1, 2, 3, 4]),
        (["--depths", "1:8"], "depth", [1, 2, 3, 4, 5, 6, 7, 8]),
        (["--depths", "1,3:9:2"], "depth", [1, 3, 5, 7, 9]),
        (["--seeds", "10:12"], "seed", [10, 11, 12]),
        (["--epochs", "10:31:10"], "epochs", [10, 20, 30]),
        (["--seeds", "10:13"], "seed", [10, 11, 12, 13]),
        (["--seeds", "0:9:5,7"], "seed", [0, 5, 7]),
        (["--n-train", "100:300:100"], "n_train", [100, 200, 300]),
        (["--lrs", "1e-2:1:3"], "lr", [0.01, 0.1, 1.0]),
        (["--momentum", "0.5,0.9", "--optimizers", "momentum"], "momentum", [0.5, 0.9]),
        (["--set", "weight_decay=1e-4:1e-2:3"], "weight_decay", [1e-4, 1e-3, 1e-2]),
        (["--clip", "none,1"], "clip", [None, 1.0]),
        (["--batch-size", "full,32"], "batch_size", [None, 32]),
    ],
)
def test_lists_and_ranges_are_accepted_uniformly(argv, field, values):
    g = grid_of(*argv)
    assert g.values[field] == values


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "lrr=0.1"], "unknown field 'lrr'; did you mean 'lr'?"),
        (["--set", "depth"], "use FIELD=VALUES"),
        (["--set", "depth=2", "--depths", "3"], "--set depth=... and --depths both set depth"),
        (["--set", "clip=1", "--set", "clip=2"], "--set clip=... is given twice"),
        (["--set", "residual=maybe"], "residual is true or false"),
        (["--set", "widths=8xa"], "cannot parse widths"),
        (["--depths", "2:1"], "argument --depths"),
        (["--depths", "1:4:0"], "argument --depths"),
        (["--depths", "1:2:3:4"], "argument --depths"),
        (["--momentum", "x"], "cannot parse momentum 'x'"),
    ],
)
def test_set_and_range_errors(argv, message, tmp_path, capsys):
    assert sweep.main([*argv, "--out", str(tmp_path / "never"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "never").exists()


def test_set_covers_every_field_kind():
    assert set(FIELD_KINDS.values()) == {"int", "float", "str", "bool", "widths",
                                         "dataset_params"}  # fmt: skip
