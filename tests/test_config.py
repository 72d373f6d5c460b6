"""RunConfig and Grid: defaults, validation messages, identity and keys, grids, TOML, parsers."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
from fastdepth.kernels.layout import Layout

from fastdepth.config import ConfigError, Grid, RunConfig, cost, parse_lrs, parse_seeds

# ----------------------------------------------------------------------------- RunConfig basics

SPEC_DEFAULTS = {
    "dataset": "circle",
    "n_train": 1000,
    "n_test": 1000,
    "noise": None,
    "data_seed": 0,
    "dataset_params": (),
    "depth": 4,
    "width": 16,
    "widths": None,
    "activation": "relu",
    "alpha": None,
    "residual": False,
    "residual_block": 2,
    "residual_init": "none",
    "init": "he",
    "gain": None,
    "sigma_w2": None,
    "sigma_b2": None,
    "loss": "bce",
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "clip": None,
    "schedule": "constant",
    "batch_size": None,
    "epochs": 1000,
    "log_every": 1,
    "eval_every": 50,
    "dtype": "float64",
    "seed": 0,
    "snapshot_every": 0,
    "sharpness_every": 0,
    "sharpness_k": 1,
    "sharpness_iters": 20,
    "sharpness_tol": 1e-4,
    "lr_rule": "fixed",
    "count_regions": "off",
    "regions_resolution": 256,
}


def test_fields_and_defaults() -> None:
    c = RunConfig()
    assert [f.name for f in dataclasses.fields(c)] == list(SPEC_DEFAULTS)
    for name, value in SPEC_DEFAULTS.items():
        assert getattr(c, name) == value, name


def test_frozen_and_hashable() -> None:
    c = RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 0.1  # type: ignore[misc]
    assert len({c, RunConfig(), RunConfig(dataset_params={}), c.replace(lr=0.1)}) == 2


def test_hidden_widths_and_layout() -> None:
    c = RunConfig(depth=3, width=8)
    assert c.hidden_widths == (8, 8, 8)
    lay = c.layout()
    assert isinstance(lay, Layout) and lay.sizes == (2, 8, 8, 8, 1)
    assert RunConfig(dataset="segment").layout().n_in == 1
    assert RunConfig(dataset="regression1d", loss="mse").n_in == 1


def test_widths_override_depth_and_width() -> None:
    c = RunConfig(depth=9, width=3, widths=(16, 8, 16))
    assert c.depth == 3 and c.widths == (16, 8, 16) and c.hidden_widths == (16, 8, 16)
    assert c.width == 16  # max(widths), informational
    assert c.layout().sizes == (2, 16, 8, 16, 1)
    # uniform widths are the depth/width representation
    u = RunConfig(widths=[32, 32])
    assert u == RunConfig(depth=2, width=32) and u.widths is None


def test_dataset_params_accepts_dict_and_stays_hashable() -> None:
    c = RunConfig(dataset="rings", dataset_params={"k": 3})
    assert c.dataset_params == (("k", 3),) and c.dataset_kwargs == {"k": 3}
    hash(c)
    s = RunConfig(dataset="spirals", dataset_params={"turns": 2})
    assert s.dataset_params == (("turns", 2.0),)  # typed like the default (float)


def test_numeric_fields_are_coerced() -> None:
    c = RunConfig(lr=1, depth=np.int64(3), epochs=10.0, noise=np.float32(0.25))
    assert type(c.lr) is float and c.lr == 1.0
    assert type(c.depth) is int and type(c.epochs) is int
    assert type(c.noise) is float


def test_init_alias_is_normalised() -> None:
    assert RunConfig(init="kaiming").init == "he"
    assert RunConfig(init="glorot_uniform").init == "xavier_uniform"


def test_steps_and_telemetry_counts() -> None:
    full = RunConfig(epochs=1000)
    assert full.batch == 1000 and full.steps_per_epoch == 1 and full.n_steps == 1000
    assert full.n_log_points == 1000  # steps 0..999
    assert full.n_eval_points == 21  # after 0, 50, ..., 1000 updates
    mini = RunConfig(batch_size=300, epochs=10, log_every=7, eval_every=8)
    assert mini.steps_per_epoch == 4 and mini.n_steps == 40  # last batch of 100 kept
    assert mini.n_log_points == len(range(0, 40, 7))
    assert mini.n_eval_points == len([0, 8, 16, 24, 32, 40])
    odd = RunConfig(epochs=10, eval_every=3)
    assert odd.n_eval_points == len([0, 3, 6, 9, 10])  # the final state is always evaluated


def test_effective_alpha() -> None:
    assert RunConfig(activation="leaky_relu").effective_alpha == 0.01
    assert RunConfig(activation="elu", alpha=0.5).effective_alpha == 0.5
    assert RunConfig().effective_alpha == 0.0


def test_data_and_initial_params() -> None:
    c = RunConfig(dataset="rings", n_train=100, n_test=50, data_seed=3)
    Xtr, ytr, Xte, _ = c.data()
    assert Xtr.shape == (100, 2) and Xte.shape == (50, 2) and ytr.shape == (100,)
    p = c.initial_params()
    assert p.shape == (c.layout().n_params,) and p.dtype == np.float64
    p32 = c.replace(dtype="float32").initial_params()
    np.testing.assert_array_equal(p32, p.astype(np.float32))
    np.testing.assert_array_equal(c.replace(lr=0.3, optimizer="adam").initial_params(), p)


# ----------------------------------------------------------------------------- serialisation


def test_to_dict_from_dict_round_trip_through_json() -> None:
    c = RunConfig(
        dataset="rings",
        dataset_params={"k": 3},
        widths=(16, 8, 4),
        activation="leaky_relu",
        alpha=0.2,
        batch_size=64,
        clip=1.0,
    )
    d = json.loads(json.dumps(c.to_dict()))
    assert d["widths"] == [16, 8, 4] and d["dataset_params"] == {"k": 3}
    back = RunConfig.from_dict(d)
    assert back == c and back.run_id == c.run_id


def test_from_dict_unknown_key_suggests() -> None:
    with pytest.raises(ConfigError, match=r"unknown RunConfig field 'lrr'; did you mean 'lr'\?"):
        RunConfig.from_dict({"lrr": 0.1})
    with pytest.raises(ConfigError, match=r"'learning_rate'; did you mean 'lr'\?"):
        RunConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match=r"'n_epochs'; did you mean 'epochs'\?"):
        RunConfig().replace(n_epochs=3)


def test_replace_validates_and_clears_explicit_widths() -> None:
    c = RunConfig(widths=(16, 8))
    assert c.replace(depth=5).hidden_widths == (16,) * 5
    assert c.replace(lr=0.2).widths == (16, 8)
    with pytest.raises(ConfigError, match="lr must be"):
        c.replace(lr=0.0)


# ----------------------------------------------------------------------------- run_id


def test_run_id_is_16_hex_and_pinned() -> None:
    # Pinned so a change of the canonical form (which orphans stored results) is deliberate.
    rid = RunConfig().run_id
    assert len(rid) == 16 and int(rid, 16) >= 0
    assert rid == "0026db054c3512d7"


def test_run_id_ignores_key_order_and_float_spelling() -> None:
    a = RunConfig.from_dict({"lr": 0.1, "depth": 2, "weight_decay": 0})
    b = RunConfig.from_dict({"weight_decay": 0.0, "depth": 2, "lr": 1e-1})
    assert a.run_id == b.run_id
    assert RunConfig(lr=1).run_id == RunConfig(lr=1.0).run_id
    assert RunConfig(clip=2).run_id == RunConfig(clip=2.0).run_id


def test_run_id_widths_equal_depth_width() -> None:
    assert RunConfig(depth=4, width=16).run_id == RunConfig(widths=(16, 16, 16, 16)).run_id
    assert RunConfig(depth=4, width=16).run_id != RunConfig(widths=(16, 16, 16, 8)).run_id


def test_run_id_resolves_defaults() -> None:
    base = RunConfig(dataset="rings")
    assert base.run_id == RunConfig(dataset="rings", noise=0.1).run_id
    assert base.run_id == RunConfig(dataset="rings", dataset_params={"k": 4}).run_id
    assert base.run_id == RunConfig(dataset="rings", gain=1.0).run_id
    assert base.run_id == RunConfig(dataset="rings", init="kaiming").run_id
    lr = RunConfig(activation="leaky_relu")
    assert lr.run_id == RunConfig(activation="leaky_relu", alpha=0.01).run_id


def test_run_id_drops_fields_without_effect() -> None:
    assert RunConfig(momentum=0.5).run_id == RunConfig(momentum=0.9).run_id  # sgd
    assert (
        RunConfig(optimizer="momentum", momentum=0.5).run_id
        != RunConfig(optimizer="momentum", momentum=0.9).run_id
    )
    assert RunConfig(beta1=0.5).run_id == RunConfig().run_id
    assert RunConfig(optimizer="adam", beta1=0.5).run_id != RunConfig(optimizer="adam").run_id
    assert RunConfig(residual_block=3).run_id == RunConfig().run_id
    assert RunConfig(residual=True, residual_block=3).run_id != RunConfig(residual=True).run_id


@pytest.mark.parametrize(
    "change",
    [
        {"lr": 0.06},
        {"seed": 1},
        {"data_seed": 1},
        {"depth": 5},
        {"dtype": "float32"},
        {"batch_size": 1000},
        {"noise": 0.2},
        {"epochs": 999},
        {"log_every": 2},
        {"activation": "tanh"},
        {"residual": True},
        {"residual": True, "residual_init": "zero"},
    ],
)
def test_run_id_changes_with_the_experiment(change: dict) -> None:
    assert RunConfig(**change).run_id != RunConfig().run_id


# ----------------------------------------------------------------------------- init / data keys


@pytest.mark.parametrize(
    "change",
    [
        {"lr": 0.5},
        {"optimizer": "adam"},
        {"epochs": 10},
        {"activation": "tanh"},
        {"residual": True},
        {"dtype": "float32"},
        {"dataset": "rings"},  # same n_in
        {"batch_size": 10},
        {"init": "kaiming"},
        {"gain": 1.0},
        # rescales block ends after the draws: the draws (the key) are shared on purpose
        {"residual": True, "residual_init": "scaled"},
    ],
)
def test_init_key_same_when_initial_weights_are(change: dict) -> None:
    assert RunConfig(**change).init_key() == RunConfig().init_key()


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 1},
        {"width": 17},
        {"depth": 3},
        {"init": "xavier"},
        {"gain": 2.0},
        {"dataset": "segment"},  # n_in 1
    ],
)
def test_init_key_differs_when_initial_weights_do(change: dict) -> None:
    assert RunConfig(**change).init_key() != RunConfig().init_key()


def test_init_key_meanfield_fields() -> None:
    a = RunConfig(init="meanfield", sigma_w2=2.0)
    assert a.init_key() == RunConfig(init="meanfield", sigma_w2=2.0, sigma_b2=0.0).init_key()
    assert a.init_key() != RunConfig(init="meanfield", sigma_w2=2.0, sigma_b2=0.1).init_key()
    assert a.init_key() != RunConfig(init="meanfield", sigma_w2=1.0).init_key()


def test_residual_init_identity_and_weights() -> None:
    plain = RunConfig(depth=7)
    res = {
        ri: RunConfig(depth=7, residual=True, residual_init=ri) for ri in ("none", "zero", "scaled")
    }
    # 'none' is the default and left out of the canonical form: stored run ids stay valid
    assert res["none"].run_id == RunConfig(depth=7, residual=True).run_id
    assert "residual_init" not in res["none"].canonical_dict()
    assert res["zero"].canonical_dict()["residual_init"] == "zero"
    assert len({c.run_id for c in res.values()}) == 3
    lay = plain.layout()
    w = {k: lay.unpack(c.initial_params()) for k, c in {"plain": plain, **res}.items()}
    for k in range(lay.n_layers):  # block ends of 6 layers after the first: 2, 4, 6
        for name in ("none", "zero", "scaled"):
            W, b = w[name][k]
            W0, b0 = w["plain"][k]
            if k in (2, 4, 6) and name == "zero":
                assert not W.any() and not b.any()
            elif k in (2, 4, 6) and name == "scaled":
                np.testing.assert_array_equal(W, W0 * (1 / math.sqrt(3)))
            else:
                np.testing.assert_array_equal(W, W0)
                np.testing.assert_array_equal(b, b0)


def test_residual_init_round_trips_and_grid_crosses() -> None:
    c = RunConfig(residual=True, residual_init="scaled")
    assert RunConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    g = Grid({"residual_init": ["none", "zero", "scaled"], "seed": range(2)},
             base=RunConfig(residual=True, depth=5))  # fmt: skip
    assert [r.residual_init for r in g] == ["none"] * 2 + ["zero"] * 2 + ["scaled"] * 2


def test_keys_are_non_negative_int64() -> None:
    for s in range(20):
        c = RunConfig(seed=s)
        for key in (c.init_key(), c.data_key()):
            assert isinstance(key, int) and 0 <= key < 2**63
    assert len({RunConfig(seed=s).init_key() for s in range(100)}) == 100


def test_data_key() -> None:
    c = RunConfig(batch_size=100)
    assert c.data_key() == c.replace(lr=0.3, depth=2, init="xavier").data_key()
    assert c.data_key() != c.replace(seed=1).data_key()
    assert c.data_key() != c.replace(batch_size=50).data_key()
    assert c.data_key() != c.replace(data_seed=1).data_key()
    assert c.data_key() != c.replace(dataset="rings").data_key()
    assert c.data_key() != c.init_key()


# ----------------------------------------------------------------------------- validation

INVALID = [
    ({"depth": 0}, r"depth must be >= 1 \(number of hidden layers"),
    ({"width": 0}, "width must be >= 1, got 0"),
    ({"widths": (16, 0)}, r"width must be >= 1, got \(16, 0\)"),
    ({"widths": ()}, "widths must list at least one hidden width"),
    ({"lr": 0.0}, "lr must be a finite number > 0, got 0.0"),
    ({"lr": -0.1}, "lr must be a finite number > 0"),
    ({"lr": math.inf}, "lr must be a finite number > 0, got inf"),
    ({"lr": math.nan}, "lr must be a finite number > 0, got nan"),
    ({"epochs": 0}, "epochs must be >= 1, got 0"),
    ({"batch_size": 0}, r"batch_size must be in \[1, n_train=1000\], or None for full batch"),
    ({"batch_size": 1001}, r"batch_size must be in \[1, n_train=1000\].*got 1001"),
    ({"log_every": 0}, r"log_every must be >= 1 \(steps\), got 0"),
    ({"eval_every": 0}, r"eval_every must be >= 1 \(steps\), got 0"),
    ({"n_train": 0}, "n_train must be >= 1, got 0"),
    ({"n_test": 0}, "n_test must be >= 1, got 0"),
    ({"seed": -1}, "seed must be >= 0, got -1"),
    ({"data_seed": -1}, "data_seed must be >= 0, got -1"),
    (
        {"dataset": "cirle"},
        r"unknown dataset 'cirle'; did you mean 'circle'\? valid: circle, rings",
    ),
    ({"activation": "rleu"}, r"unknown activation 'rleu'; did you mean 'relu'\? valid: identity"),
    ({"activation": "ReLU"}, r"unknown activation 'ReLU'; did you mean 'relu'\?"),
    ({"init": "xavir"}, r"unknown init 'xavir'; did you mean 'xavier'\? valid: he, kaiming"),
    ({"loss": "bcee"}, r"unknown loss 'bcee'; did you mean 'bce'\? valid: bce, mse"),
    ({"optimizer": "adma"}, r"unknown optimizer 'adma'; did you mean 'adam'\? valid: sgd"),
    ({"schedule": "cosin"}, r"unknown schedule 'cosin'; did you mean 'cosine'\? valid: constant"),
    ({"dtype": "float16"}, r"unknown dtype 'float16'; did you mean 'float64'\? valid: float64, fl"),
    (
        {"residual": True, "widths": (16, 8, 16)},
        (
            r"residual connections need equal hidden widths, got \(16, 8, 16\); use width=16 or "
            r"residual=False"
        ),
    ),
    ({"residual_block": 0}, "residual_block must be >= 1, got 0"),
    ({"residual_init": "zero"}, "only applies to residual networks; set residual=True"),
    ({"residual": True, "residual_init": "fixup"}, "unknown residual_init 'fixup'.*valid: none"),
    ({"residual": True, "residual_init": "zeros"}, "did you mean 'zero'"),
    (
        {"loss": "mse"},
        "loss='mse' needs a regression dataset; 'circle' is a classification task, use loss='bce'",
    ),
    (
        {"dataset": "regression1d"},
        (
            "loss='bce' needs a classification dataset; 'regression1d' is a regression task, "
            "use loss='mse'"
        ),
    ),
    ({"init": "meanfield"}, "init='meanfield' needs sigma_w2"),
    ({"init": "meanfield", "sigma_w2": -1.0}, "sigma_w2 must be a finite number > 0"),
    ({"init": "meanfield", "sigma_w2": 2.0, "gain": 2.0}, "init='meanfield' takes sigma_w2"),
    ({"sigma_w2": 2.0}, "sigma_w2 / sigma_b2 only apply to init='meanfield', not 'he'"),
    ({"gain": 0.0}, "gain must be a finite number > 0"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
    ({"momentum": -0.1}, r"momentum must be in \[0, 1\), got -0.1"),
    ({"beta1": 1.0}, r"beta1 must be in \[0, 1\), got 1.0"),
    ({"beta2": -0.5}, r"beta2 must be in \[0, 1\), got -0.5"),
    ({"eps": 0.0}, "eps must be a finite number > 0"),
    ({"weight_decay": -1e-4}, r"weight_decay must be a finite number >= 0 \(0 = off\)"),
    ({"clip": 0.0}, r"clip \(max total gradient norm\) must be > 0, or None to disable, got 0.0"),
    ({"clip": -1.0}, r"clip \(max total gradient norm\) must be > 0"),
    ({"alpha": 0.1}, "alpha has no effect with activation='relu'; it applies to leaky_relu, elu"),
    ({"activation": "elu", "alpha": math.inf}, "alpha must be finite"),
    ({"noise": -0.1}, "noise must be a finite number >= 0"),
    (
        {"dataset": "rings", "dataset_params": {"kk": 4}},
        r"dataset 'rings' has no parameter 'kk'; did you mean 'k'\?",
    ),
    (
        {"dataset": "rings", "dataset_params": {"k": 1}},
        r"dataset 'rings': k \(number of rings\) must be an integer >= 2",
    ),
    ({"dataset_params": 5}, r"dataset_params must be a dict such as \{'k': 4\}"),
    ({"depth": "4"}, "depth must be an integer, got '4'"),
    ({"depth": 2.5}, "depth must be an integer, got 2.5"),
    ({"lr": "fast"}, "lr must be a number, got 'fast'"),
    ({"lr": True}, "lr must be a number, got True"),
    ({"dataset": 3}, "dataset must be a string, got 3"),
    ({"residual": "yes"}, "residual must be True or False"),
    ({"widths": 16}, r"widths must be a sequence of ints such as \(16, 16\)"),
]


@pytest.mark.parametrize("kwargs, match", INVALID, ids=[str(k) for k, _ in INVALID])
def test_validation_messages(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RunConfig(**kwargs)


def test_config_error_is_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_valid_corner_cases() -> None:
    RunConfig(batch_size=1000)
    RunConfig(batch_size=1)
    RunConfig(momentum=0.0, beta1=0.0, weight_decay=0.0)
    RunConfig(dataset="regression1d", loss="mse")
    RunConfig(init="meanfield", sigma_w2=2.0, sigma_b2=0.05)
    RunConfig(residual=True, depth=1)  # nothing to skip: a plain net, allowed in depth sweeps
    RunConfig(activation="leaky_relu", alpha=0.2)


# ----------------------------------------------------------------------------- Grid


def test_grid_crosses_in_order_last_axis_fastest() -> None:
    g = Grid({"depth": [1, 2, 4], "lr": [0.01, 0.1], "seed": range(2)})
    assert len(g) == 12 and len(g.runs()) == 12
    got = [(r.depth, r.lr, r.seed) for r in g]
    assert got[:4] == [(1, 0.01, 0), (1, 0.01, 1), (1, 0.1, 0), (1, 0.1, 1)]
    assert got[-1] == (4, 0.1, 1)
    assert g.axes == ("depth", "lr", "seed")
    assert [r.run_id for r in g] == [r.run_id for r in Grid(g.to_dict()["axes"])]  # stable
    assert g[5] == g.runs()[5]


def test_grid_zip_pairs_axes() -> None:
    g = Grid(
        {"depth": [1, 2, 4], "seed": [0, 1], "lr": [0.3, 0.1, 0.03]},
        zip=[("depth", "lr")],
    )
    assert len(g) == 6
    got = [(r.depth, r.lr, r.seed) for r in g]
    # the zipped group sits at the position of its first member (depth)
    assert got == [
        (1, 0.3, 0),
        (1, 0.3, 1),
        (2, 0.1, 0),
        (2, 0.1, 1),
        (4, 0.03, 0),
        (4, 0.03, 1),
    ]


def test_grid_scalars_base_and_axes() -> None:
    base = RunConfig(dataset="rings", epochs=200)
    g = Grid({"depth": [1, 2], "activation": "tanh", "seed": [3]}, base=base)
    assert len(g) == 2 and g.axes == ("depth",)
    assert all(r.dataset == "rings" and r.epochs == 200 and r.activation == "tanh" for r in g)
    assert g.base == {"dataset": "rings", "epochs": 200}


def test_grid_base_dict_need_not_be_valid_alone() -> None:
    g = Grid({"loss": "mse", "depth": [1, 2]}, base={"dataset": "regression1d"})
    assert [r.loss for r in g] == ["mse", "mse"]


def test_grid_widths_and_dataset_params_axes() -> None:
    g = Grid(
        {"widths": [(16, 16), (32, 8), [4]], "dataset_params": [{"k": 2}, {"k": 4}]},
        base={"dataset": "rings"},
    )
    assert len(g) == 6
    assert [r.hidden_widths for r in g][::2] == [(16, 16), (32, 8), (4,)]
    assert [r.dataset_kwargs["k"] for r in g][:2] == [2, 4]
    single = Grid({"widths": (16, 8)})  # a flat tuple is one value, not an axis
    assert len(single) == 1 and single[0].widths == (16, 8)


def test_grid_names_the_offending_value() -> None:
    with pytest.raises(
        ConfigError,
        match=r"grid run #1 \(depth=1, lr=-1\) is invalid: lr must be a finite number > 0.*"
        r"\(2 of 4 runs are invalid\)",
    ):
        Grid({"depth": [1, 2], "lr": [0.1, -1]})
    with pytest.raises(
        ConfigError, match=r"grid run #1 \(activation='rleu'\).*did you mean 'relu'"
    ):
        Grid({"activation": ["relu", "rleu"]})


def test_grid_combination_errors() -> None:
    with pytest.raises(ConfigError, match="loss='mse' needs a regression dataset"):
        Grid({"dataset": ["circle", "regression1d"], "loss": ["bce", "mse"]})
    with pytest.raises(ConfigError, match=r"residual connections need equal hidden widths"):
        Grid({"widths": [(8, 8), (8, 4)], "residual": True})


def test_grid_rejects_duplicate_experiments() -> None:
    with pytest.raises(
        ConfigError,
        match=r"grid runs #0 \(momentum=0.5\) and #1 \(momentum=0.9\) are the same experiment",
    ):
        Grid({"momentum": [0.5, 0.9]})
    with pytest.raises(ConfigError, match="same experiment"):
        Grid({"init": ["he", "kaiming"]})
    # fine when the field has an effect
    assert len(Grid({"optimizer": "momentum", "momentum": [0.5, 0.9]})) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"axes": {"lrr": [0.1]}}, r"unknown grid field 'lrr'; did you mean 'lr'\?"),
        ({"axes": {}, "base": {"dept": 2}}, r"unknown base field 'dept'; did you mean 'depth'\?"),
        ({"axes": {"lr": []}}, "grid axis 'lr' is empty"),
        (
            {"axes": {"depth": [1, 2], "lr": [0.1]}, "zip": [("depth", "lr")]},
            r"zipped axes need lists of equal length, got \{'depth': 2, 'lr': 1\}",
        ),
        (
            {"axes": {"depth": [1, 2]}, "zip": [("depth", "lr")]},
            "zip group .* names 'lr', which is not a grid axis",
        ),
        (
            {"axes": {"depth": [1, 2], "lr": [1, 2]}, "zip": [("depth", "lr"), ("lr",)]},
            "field 'lr' appears in more than one zip group",
        ),
        (
            {"axes": {"depth": [1, 2]}, "base": {"widths": [8, 4]}},
            "the grid sets depth but also sets widths, which overrides depth and width",
        ),
    ],
)
def test_grid_construction_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Grid(**kwargs)


def w1_grid() -> Grid:
    return Grid({"depth": [1, 2, 4, 6, 8], "seed": range(50)}, base={"dataset": "rings"})


def test_w1_flops_match_the_spec() -> None:
    # the whole W1 batch is 1284.8 GFLOP (training only)
    g = w1_grid()
    assert len(g) == 250
    assert g.estimated_flops(include_eval=False) == 1_284_800_000_000
    assert g.estimated_flops() > g.estimated_flops(include_eval=False)
    assert g.estimate_seconds(gflops=40.0) == pytest.approx(g.estimated_flops() / 40e9)


def test_time_estimate_prices_the_activation_and_the_threads() -> None:
    from fastdepth.kernels.vocab import ACTIVATIONS

    from fastdepth.config import cost

    g = w1_grid()
    tanh = Grid({"depth": [1, 2, 4, 6, 8], "seed": range(50)},
                base={"dataset": "rings", "activation": "tanh", "init": "xavier"})  # fmt: skip
    assert tanh.estimated_flops() == g.estimated_flops()  # FLOPs leave the activation out
    # ... the cost model does not: per hidden unit and sample-step, the activation's cost
    extra = sum(r.n_train * r.epochs * sum(r.hidden_widths) for r in g) * (
        ACTIVATIONS.entry("tanh").cost - ACTIVATIONS.entry("relu").cost
    )
    assert sum(map(cost.train_cost, tanh)) - sum(map(cost.train_cost, g)) == pytest.approx(extra)
    # measured on W1 (README: 9.5 s relu and 16.2 s tanh at 2 threads): within 20%
    assert g.estimate_seconds(threads=2) == pytest.approx(9.5, rel=0.2)
    assert tanh.estimate_seconds(threads=2) == pytest.approx(16.2, rel=0.2)
    assert g.estimate_seconds(threads=1) == pytest.approx(2 * g.estimate_seconds(threads=2))
    # a thread trains one network at a time: more threads than runs do not help
    one = Grid({"seed": [0]})
    assert one.estimate_seconds(threads=8) == one.estimate_seconds(threads=1)
    with pytest.raises(ConfigError, match="threads must be >= 1"):
        cost.estimate_seconds(list(g), 0)


def test_memory_bytes_formula() -> None:
    c = RunConfig(depth=2, width=4, epochs=100, log_every=10, eval_every=25, optimizer="adam")
    n_layers, n_params = 3, (2 * 4 + 4) + (4 * 4 + 4) + (4 + 1)
    # telemetry (always float64): 10 log rows x (2 + 3), 5 eval rows x (4 + 2 * 2), and
    # the init block 2 * 3 + 2 * 2 + 1; parameter state: initial, current, grad + 2 Adam.
    telemetry = 10 * (2 + n_layers) + 5 * (4 + 2 * 2) + (2 * n_layers + 2 * 2 + 1)
    state = n_params * (3 + 2)
    assert c.memory_bytes() == 8 * telemetry + 8 * state
    assert c.replace(dtype="float32").memory_bytes() == 8 * telemetry + 4 * state
    g = Grid({"seed": range(3)}, base=c)
    assert g.memory_bytes() == 3 * (8 * telemetry + 8 * state)


def test_check_memory() -> None:
    g = w1_grid()
    need = g.memory_bytes()
    assert g.check_memory(limit_bytes=need) == need
    assert g.check_memory() == need  # default limit: half the available RAM
    with pytest.raises(
        ConfigError,
        match=r"this grid of 250 runs needs 0\.0\d+ GiB .* but the limit is 0\.00\d+ GiB "
        r"\(limit_bytes\); raise log_every \(now 1\) or eval_every \(now 50\), use fewer seeds "
        r"\(now 50\), or split the grid",
    ):
        g.check_memory(limit_bytes=2**20)


def test_grid_dict_round_trip() -> None:
    g = Grid(
        {"depth": [1, 2], "lr": [0.1, 0.2], "seed": range(3)},
        base={"dataset": "rings", "dataset_params": {"k": 3}},
        zip=[("depth", "lr")],
    )
    d = json.loads(json.dumps(g.to_dict()))
    assert Grid.from_dict(d) == g
    with pytest.raises(ConfigError, match=r"unknown Grid key 'axis'; did you mean 'axes'\?"):
        Grid.from_dict({"axis": {}})


def test_toml_round_trip(tmp_path) -> None:
    g = Grid(
        {
            "depth": [1, 2, 4],
            "lr": parse_lrs("1e-3:1:3"),
            "batch_size": [None, 32],
            "clip": [None, 1.5],
            "dataset_params": [{"k": 2}, {"k": 4}],
            "activation": "tanh",
            "seed": range(2),
        },
        base=RunConfig(dataset="rings", epochs=20, eps=1e-7, residual=True, noise=0.05),
        zip=[("depth", "lr")],
    )
    path = tmp_path / "grid.toml"
    text = g.to_toml(path)
    assert path.read_text() == text and "[base]" in text and "[axes]" in text
    back = Grid.from_toml(path)
    assert back == g
    assert [r.run_id for r in back] == [r.run_id for r in g]
    assert len(back) == 3 * 2 * 2 * 2 * 2


def test_toml_widths_axis_and_hand_written_file(tmp_path) -> None:
    g = Grid({"widths": [(16, 16), (32, 8)]}, base={"dataset": "moons", "epochs": 5})
    p = tmp_path / "w.toml"
    g.to_toml(p)
    assert Grid.from_toml(p) == g
    p.write_text(
        '# a hand-written sweep\nzip = []\n[base]\ndataset = "rings"\n'
        "[base.dataset_params]\nk = 3\n[axes]\ndepth = [1, 2]\nseed = [0, 1, 2]\n"
    )
    h = Grid.from_toml(p)
    assert len(h) == 6 and h[0].dataset_kwargs == {"k": 3}


# ----------------------------------------------------------------------------- parsers


def test_parse_lrs() -> None:
    assert parse_lrs("0.01,0.1") == [0.01, 0.1]
    assert parse_lrs(" 0.5 , 1e-3:1e-1:3 ") == [0.5, 0.001, 0.01, 0.1]
    dense = parse_lrs("1e-3:1:24")
    assert len(dense) == 24 and dense[0] == 0.001 and dense[-1] == 1.0
    ratios = np.diff(np.log(dense))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    assert parse_lrs("0.1:0.1:1") == [0.1]


@pytest.mark.parametrize("text", ["", "abc", "1:2", "0:1:5", "1e-3:1:0", "1:2:3:4"])
def test_parse_lrs_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"learning rates|log grid"):
        parse_lrs(text)


def test_parse_seeds() -> None:
    assert parse_seeds("50") == range(50)
    assert parse_seeds("10:19") == range(10, 20)  # both ends included
    assert parse_seeds("1,5,9") == [1, 5, 9]


@pytest.mark.parametrize("text", ["0", "-3", "20:10", "a", "1:b", "-1,2"])
def test_parse_seeds_errors(text: str) -> None:
    with pytest.raises(ValueError, match="cannot parse seeds"):
        parse_seeds(text)


# ----------------------------------------------------------------------------- vocabularies


def test_validation_and_identity_follow_the_vocab_tables() -> None:
    from fastdepth.kernels.vocab import ACTIVATIONS, LOSSES, OPTIMIZERS

    from fastdepth.config import DEFAULTS, NULLABLE
    from fastdepth.config.validate import ALPHA_ACTIVATIONS

    assert NULLABLE == {k for k, v in DEFAULTS.items() if v is None}
    for e in ACTIVATIONS.entries:  # alpha enters the identity exactly where it has an effect
        c = RunConfig(activation=e.name, init=e.init)
        assert ("alpha" in c.canonical_dict()) == (e.alpha is not None)
        assert c.effective_alpha == (e.alpha or 0.0)
    assert ALPHA_ACTIVATIONS == tuple(e.name for e in ACTIVATIONS.entries if e.alpha is not None)
    for e in OPTIMIZERS.entries:  # exactly the fields the optimizer reads
        d = RunConfig(optimizer=e.name, lr=0.01).canonical_dict()
        assert {"momentum", "beta1", "beta2", "eps"} & set(d) == set(e.hyper)
        lay = RunConfig().layout()
        base = RunConfig(optimizer=e.name, lr=0.01).memory_bytes()
        assert base - RunConfig(lr=0.01).memory_bytes() == 8 * lay.n_params * e.state
    for e in LOSSES.entries:
        other = "circle" if e.task == "regression" else "regression1d"
        with pytest.raises(ConfigError, match=f"loss='{e.name}' needs a {e.task} dataset"):
            RunConfig(dataset=other, loss=e.name)


@pytest.mark.parametrize("where", ["first", "middle", "last", "zipped", "one"])
def test_grid_built_from_settings_equals_the_full_product(where) -> None:
    """Runs built on demand from their setting and seed are the product's runs, with the
    same run ids; sizes and costs from the settings are the sums over the runs."""
    seeds = [3, 1, 2.0, np.int64(7)] if where != "one" else [5]
    rest = {"depth": [1, 2], "lr": [0.1, 0.2], "activation": ["relu", "tanh"]}
    orders = {"first": ["seed", "depth", "lr", "activation"],
              "middle": ["depth", "lr", "seed", "activation"]}  # fmt: skip
    order = orders.get(where, [*rest, "seed"])
    axes = {k: (seeds if k == "seed" else rest[k]) for k in order}
    zip_ = [("seed", "depth")] if where == "zipped" else []
    if where == "zipped":
        axes["seed"] = seeds[:2]
    g = Grid(axes, base={"epochs": 3}, zip=zip_)
    if zip_:
        combos = [
            {"seed": s, "depth": d, "lr": lr, "activation": a}
            for (s, d) in zip(axes["seed"], axes["depth"], strict=True)
            for lr in rest["lr"] for a in rest["activation"]
        ]  # fmt: skip
    else:
        combos = [dict(zip(axes, c, strict=True)) for c in itertools.product(*axes.values())]
    want = [RunConfig.from_dict({"epochs": 3, **c}) for c in combos]
    assert len(g) == len(want)
    assert list(g) == want and g.runs() == want
    assert [g[i] for i in range(len(g))] == want and g[-1] == want[-1] and g[1:6] == want[1:6]
    assert g.run_ids() == [r.run_id for r in want] == [r.run_id for r in g]
    assert len(set(g.run_ids())) == len(want)
    assert g.memory_bytes() == sum(r.memory_bytes() for r in want)
    assert g.estimated_flops() == sum(r.flops() for r in want)
    assert g.estimate_seconds(threads=2) == pytest.approx(cost.estimate_seconds(want, 2))
    np.testing.assert_array_equal(g.per_run(lambda r: r.flops()), [r.flops() for r in want])
    settings = g.settings()
    assert [settings[j] == r.replace(seed=settings[j].seed) for j, r in
            zip(g.setting_of(), want, strict=True)] == [True] * len(want)  # fmt: skip
    assert g.distinct("seed") == list(dict.fromkeys(r.seed for r in want))
    assert g.distinct("depth") == list(dict.fromkeys(r.depth for r in want))
    with pytest.raises(IndexError):
        g[len(want)]


def test_grid_seed_axis_errors_name_the_run() -> None:
    with pytest.raises(ConfigError, match=r"grid run #2 \(seed=-1\) is invalid: seed must be >= 0"):
        Grid({"depth": [1, 2], "seed": [0, 1, -1]})
    with pytest.raises(ConfigError, match=r"grid axis 'seed' lists 1 twice \(values #0 and #2\)"):
        Grid({"seed": [1, 2, 1.0]})
    with pytest.raises(
        ConfigError,
        match=r"grid run #2 \(depth=1, lr=-1, seed=0\) is invalid.*"
        r"\(4 of 8 runs are invalid\)",
    ):
        Grid({"depth": [1, 2], "lr": [0.1, -1], "seed": [0, 1]})  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"grid runs #0 \(momentum=0.5, seed=0\) and #2 "
        r"\(momentum=0.9, seed=0\) are the same experiment",
    ):
        Grid({"momentum": [0.5, 0.9], "seed": [0, 1]})  # fmt: skip
