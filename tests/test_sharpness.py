"""Sharpness telemetry and the sharpness learning-rate rule, end to end through the trainer.

The Lanczos kernel itself is tested in ``tests/test_eigen.py``; here: what the trainer
records (against the explicit Hessian, the reference trainer, other thread counts and
batch neighbours), the ``lr_rule = 'sharpness'`` rate and its ``no_curvature`` status.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastdepth.kernels import hvp, reference, top_eigenvalues

import fastdepth as fd
from fastdepth.config import ConfigError, cost

SMALL = fd.RunConfig(dataset="circle", n_train=60, n_test=20, depth=2, width=4, epochs=30,
                     lr=0.5, eval_every=10, sharpness_every=5)  # fmt: skip


def _explicit_hessian(run: fd.RunConfig, params: np.ndarray) -> np.ndarray:
    """The full Hessian of the mean training loss, column by column from exact HVPs."""
    X, y, _, _ = run.data()
    Xf = np.ascontiguousarray(X.T)
    lay = run.layout()
    n = lay.n_params
    H = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        H[:, i] = hvp(params, lay, Xf, y, e, run.activation, run.loss)
    return 0.5 * (H + H.T)


@pytest.mark.parametrize("loss,dataset,act", [("bce", "circle", "tanh"),
                                              ("mse", "regression1d", "relu")])  # fmt: skip
def test_recorded_sharpness_is_the_top_eigenvalue_of_the_explicit_hessian(loss, dataset, act):
    # Snapshots at the same steps give the weights each measurement was taken at.
    run = SMALL.replace(loss=loss, dataset=dataset, activation=act, lr=0.1, sharpness_k=2,
                        snapshot_every=5, sharpness_tol=0.0, sharpness_iters=40)  # fmt: skip
    res = fd.train(run)
    assert res.status == "ok"
    c = res.curves.set_index("step")
    assert list(res.snapshots.steps) == [0, 5, 10, 15, 20, 25, 30]
    lay = run.layout()
    for step, flat in zip(res.snapshots.steps, res.snapshots.params, strict=True):
        eig = np.linalg.eigvalsh(_explicit_hessian(run, flat))[::-1]
        got = c.loc[step, ["sharpness", "eig_2"]].to_numpy(np.float64)
        res_bound = c.loc[step, ["sharpness_residual", "eig_2_residual"]].to_numpy(np.float64)
        # a budget of 40 on 33 or 37 parameters: the Krylov space is the whole space (or an
        # invariant subspace holding the top pair, found earlier: dead ReLUs)
        assert lay.n_params < 40 and c.loc[step, "lanczos_iterations"] <= lay.n_params
        np.testing.assert_allclose(got, eig[:2], rtol=1e-9, atol=1e-12)
        assert np.all(res_bound < 1e-8)
    assert res.init["sharpness"] == c.loc[0, "sharpness"] == res.summary["sharpness_init"]


def test_a_budget_below_the_dimension_is_within_its_residual_of_the_truth():
    run = SMALL.replace(depth=3, width=8, sharpness_iters=6, sharpness_tol=0.0, snapshot_every=5)
    res = fd.train(run)
    c = res.curves.set_index("step")
    for step, flat in zip(res.snapshots.steps, res.snapshots.params, strict=True):
        top = np.linalg.eigvalsh(_explicit_hessian(run, flat))[-1]
        lam, bound = c.loc[step, "sharpness"], c.loc[step, "sharpness_residual"]
        assert c.loc[step, "lanczos_iterations"] == 6
        assert lam <= top * (1 + 1e-12)  # Ritz values approach from the inside
        assert top - lam <= bound * (1 + 1e-9) + 1e-12


def _fingerprint(res: fd.RunResult) -> bytes:
    parts = [res.curves.to_numpy(np.float64).tobytes()]
    parts += [W.tobytes() + b.tobytes() for W, b in res.final_params]
    return b"".join(parts)


def test_sharpness_is_bit_reproducible_across_threads_and_neighbours():
    target = fd.RunConfig(dataset="rings", n_train=150, n_test=30, depth=3, width=8, epochs=40,
                          batch_size=32, lr=0.05, seed=3, sharpness_every=7, sharpness_k=2,
                          eval_every=10)  # fmt: skip
    rng = np.random.default_rng(1)
    others = [
        fd.RunConfig(dataset=str(rng.choice(["rings", "circle"])), n_train=150, n_test=30,
                     depth=int(rng.integers(1, 5)), width=int(rng.integers(2, 10)), epochs=40,
                     lr=float(rng.choice([0.02, 0.1, 3.0])), seed=10 + i,
                     sharpness_every=int(rng.choice([0, 3, 10])),
                     lr_rule=str(rng.choice(["fixed", "sharpness"])))
        for i in range(16)
    ]  # fmt: skip
    alone = _fingerprint(fd.train_many([target], threads=1)[0])
    crowd_2 = fd.train_many(others[:8] + [target] + others[8:], threads=2)
    crowd_1 = fd.train_many([target, *others], threads=1)
    assert alone == _fingerprint(crowd_2[8]) == _fingerprint(crowd_1[0])
    assert _fingerprint(crowd_2[0]) == _fingerprint(crowd_1[1])
    # measuring does not change the training: the same run without sharpness
    plain = fd.train(target.replace(sharpness_every=0))
    for (W, b), (W2, b2) in zip(plain.final_params, crowd_1[0].final_params, strict=True):
        assert W.tobytes() == W2.tobytes() and b.tobytes() == b2.tobytes()
    assert "sharpness" not in plain.curves and "sharpness" not in plain.init


@pytest.mark.parametrize("opt,batch,dtype", [("sgd", None, "float64"), ("momentum", 16, "float64"),
                                             ("adam", None, "float32")])  # fmt: skip
def test_compiled_sharpness_matches_the_reference_trainer(opt, batch, dtype):
    run = fd.RunConfig(dataset="moons", n_train=48, n_test=16, depth=3, width=5, epochs=60,
                       optimizer=opt, lr=0.003 if opt == "adam" else 0.05, batch_size=batch,
                       sharpness_every=9, sharpness_k=3, residual=opt == "momentum",
                       residual_block=1, dtype=dtype, activation="silu")  # fmt: skip
    a = fd.train(run)
    b = fd.train(run, backend="reference")
    cols = ["sharpness", "eig_2", "eig_3", "sharpness_residual", "lanczos_iterations"]
    x, y = a.curves[cols].to_numpy(np.float64), b.curves[cols].to_numpy(np.float64)
    assert np.array_equal(np.isnan(x), np.isnan(y))
    assert np.isfinite(y[:, 0]).sum() == run.telemetry_layout().n_sharpness  # 0, 9, ... and last
    m = np.isfinite(y)
    tol = 1e-4 if dtype == "float32" else 1e-9
    # residuals are rounding-limited on the scale of the spectrum, not their own
    scale = np.abs(y[:, :1]) * np.array([1, 1, 1, 1, 0]) + np.abs(y) * np.array([0, 0, 0, 0, 1])
    assert np.all(np.abs(x[m] - y[m]) <= tol * np.maximum(scale[m], 1e-6))
    for key in ("sharpness_init", "sharpness_final", "sharpness_max", "eos_fraction"):
        if opt == "adam" and key == "eos_fraction":  # no gradient-descent stability limit
            assert math.isnan(a.summary[key]) and math.isnan(b.summary[key])
            continue
        assert math.isclose(a.summary[key], b.summary[key], rel_tol=tol)


def test_minibatch_runs_measure_the_whole_training_set():
    # The same weights measured by a full-batch and a minibatch run: the same Hessian (their
    # keys, hence start vectors, differ: a whole-space Krylov basis makes that immaterial).
    full = fd.train(SMALL.replace(epochs=1, sharpness_every=1, sharpness_iters=40, sharpness_tol=0))
    mini = fd.train(SMALL.replace(epochs=1, sharpness_every=100, batch_size=7, sharpness_iters=40,
                                  sharpness_tol=0))  # fmt: skip
    assert math.isclose(full.init["sharpness"], mini.init["sharpness"], rel_tol=1e-12)
    X, y, _, _ = SMALL.data()
    # and not the Hessian of a batch of 7: for this net they differ by far more than that
    seven = top_eigenvalues(SMALL.initial_params(), SMALL.layout(), np.ascontiguousarray(X[:7].T),
                            y[:7], "relu", "bce", max_iter=40, tol=0)  # fmt: skip
    assert abs(seven.values[0] - mini.init["sharpness"]) > 1e-3 * mini.init["sharpness"]


def test_divergence_leaves_nan_sharpness_from_its_step_on():
    boom = fd.RunConfig(dataset="rings", n_train=100, n_test=50, depth=6, width=8, epochs=100,
                        activation="identity", lr=10.0, seed=1, sharpness_every=3)  # fmt: skip
    res = fd.train(boom)
    assert res.status == "diverged"
    step = res.summary["diverged_step"]
    c = res.curves.set_index("step")
    assert c.loc[c.index > step, "sharpness"].isna().all()
    assert np.isfinite(c.loc[0, "sharpness"])
    assert math.isnan(res.summary["sharpness_final"])
    assert res.summary["sharpness_max"] == np.nanmax(c["sharpness"].to_numpy())


def test_eos_fraction_counts_measurements_at_the_stability_limit():
    res = fd.train(SMALL.replace(lr=0.05))
    lam = res.curves["sharpness"].dropna().to_numpy()
    assert res.summary["eos_fraction"] == np.mean(lam >= 1.9 / 0.05)
    # at a rate of 2 / lambda_0 the first measurement is at the edge by definition
    lam0 = res.summary["sharpness_init"]
    edge = fd.train(SMALL.replace(lr=2.0 / lam0, epochs=5, sharpness_every=5))
    assert edge.summary["eos_fraction"] >= 0.5


def test_lr_rule_sharpness_is_the_fixed_rate_lr_over_lambda0():
    ruled = fd.train(SMALL.replace(lr_rule="sharpness", lr=1.0, sharpness_every=0))
    lam0 = ruled.init["sharpness"]
    assert lam0 > 0 and ruled.summary["lr_effective"] == 1.0 / lam0
    fixed = fd.train(SMALL.replace(lr=ruled.summary["lr_effective"], sharpness_every=0))
    for (W, b), (W2, b2) in zip(ruled.final_params, fixed.final_params, strict=True):
        assert W.tobytes() == W2.tobytes() and b.tobytes() == b2.tobytes()
    assert "sharpness" in ruled.curves and ruled.curves["sharpness"].notna().sum() == 1
    ref = fd.train(SMALL.replace(lr_rule="sharpness", lr=1.0, sharpness_every=0),
                   backend="reference")  # fmt: skip
    assert math.isclose(ref.summary["lr_effective"], 1.0 / lam0, rel_tol=1e-12)
    assert fixed.summary["lr_effective"] == fixed.config.lr
    assert math.isnan(fixed.summary["sharpness_init"])


def test_a_born_dead_relu_net_has_only_its_output_bias_curvature():
    # Every hidden unit dead: the Hessian is zero but for d2L/db_out2 = mean p (1 - p).
    runs = [fd.RunConfig(dataset="circle", n_train=100, depth=8, width=4, init="small", epochs=3,
                         seed=s, lr_rule="sharpness", lr=1.0) for s in range(20)]  # fmt: skip
    res = fd.train_many(runs)
    dead = [r for r in res if r.init["born_dead"]]
    assert dead
    for r in dead:
        b_out = r.initial_params[-1][1][0]
        p = 1.0 / (1.0 + math.exp(-b_out))
        assert math.isclose(r.init["sharpness"], p * (1 - p), rel_tol=1e-12)
        assert r.status == "ok"


def test_a_net_without_curvature_gets_its_status_and_leaves_neighbours_alone():
    # tanh saturated at +-1 and logits of ~1e4: every act' and l'' underflows to exactly 0.
    flat = fd.RunConfig(dataset="circle", n_train=50, n_test=20, depth=3, width=8,
                        activation="tanh", init="xavier", gain=1e4, lr_rule="sharpness",
                        lr=1.0, epochs=10, sharpness_every=2)  # fmt: skip
    good = [SMALL.replace(seed=s, lr_rule="sharpness", lr=0.5) for s in (1, 2)]
    for backend in ("compiled", "reference"):
        res = fd.train_many([good[0], flat, good[1]], threads=2, backend=backend)
        bad = res[1]
        assert bad.status == "no_curvature", backend
        assert bad.init["sharpness"] == 0.0
        assert math.isnan(bad.summary["lr_effective"])
        assert math.isnan(bad.summary["final_train_loss"])
        alone = fd.train_many(good, threads=1, backend=backend)
        for a, b in zip([res[0], res[2]], alone, strict=True):
            assert a.status == "ok" and _fingerprint(a) == _fingerprint(b)


@pytest.mark.parametrize("field,value,match", [
    ("sharpness_every", -1, "sharpness_every must be >= 0"),
    ("sharpness_k", 0, r"sharpness_k .* must be in \[1, 4\]"),
    ("sharpness_k", 5, r"sharpness_k .* must be in \[1, 4\]"),
    ("sharpness_iters", 0, r"sharpness_iters .* must be in \[sharpness_k=1, 1000\]"),
    ("sharpness_iters", 10**6, r"sharpness_iters .* must be in"),
    ("sharpness_tol", -1.0, "sharpness_tol must be a finite number >= 0"),
    ("sharpness_tol", math.nan, "sharpness_tol must be a finite number >= 0"),
    ("lr_rule", "sharpnes", r"unknown lr_rule 'sharpnes'; did you mean 'sharpness'\?"),
    ("sharpness_every", 1.5, "sharpness_every must be an integer"),
])  # fmt: skip
def test_bad_sharpness_settings_are_refused_when_built(field, value, match):
    with pytest.raises(ConfigError, match=match):
        fd.RunConfig(**{field: value})


def test_sharpness_settings_only_change_the_run_id_when_they_have_an_effect():
    base = fd.RunConfig()
    assert base.run_id == fd.RunConfig(sharpness_k=3, sharpness_iters=30).run_id
    on = fd.RunConfig(sharpness_every=10)
    assert on.run_id != base.run_id != fd.RunConfig(lr_rule="sharpness").run_id
    assert on.run_id != fd.RunConfig(sharpness_every=10, sharpness_k=2).run_id


def test_memory_and_time_estimates_include_the_measurements():
    run = fd.RunConfig(dataset="circle", depth=4, width=16, epochs=1000)
    on = run.replace(sharpness_every=50)
    extra = 21 * (2 * 20 + 1) / 1000  # 21 measurements of ~41 gradients vs 1000 steps
    ratio = cost.estimate_seconds([on], 1) / cost.estimate_seconds([run], 1)
    assert 1 + 0.5 * extra < ratio < 1 + 1.5 * extra
    lay = run.layout()
    assert on.memory_bytes() - run.memory_bytes() >= 8 * (21 * 3 + 21 * lay.n_params)


def test_kernel_validation_refuses_bad_sharpness_columns():
    from fastdepth.kernels import columns as T

    from fastdepth.engine import pack_batch

    a = pack_batch([SMALL]).arrays
    cases = ((T.I_SHARP_K, 5, "sharpness_k"), (T.I_SHARP_ITERS, 0, "sharpness_iters"),
             (T.I_LR_RULE, 7, "outside"), (T.I_SHARP, -2, "sharpness_every"))  # fmt: skip
    for col, val, msg in cases:
        bad = {k: v.copy() for k, v in a.items()}
        bad["icfg"][0, col] = val
        with pytest.raises(ValueError, match=msg):
            reference.train_batch(**bad)


# --------------------------------------------------------------- the two compiled trainers
_NAMES = ("params", "p_off", "tables", "t_off", "icfg", "fcfg", "keys", "dinfo", "xtr", "ytr",
          "xte", "yte", "tel", "tel_off", "status", "div_step")  # fmt: skip


def _drive(flat, runs):
    from fastdepth import engine

    a = engine.pack_batch(runs).arrays
    flat(*[a[k] for k in _NAMES], np.arange(len(runs), dtype=np.int64), 0, len(runs))
    return a


def test_plain_networks_get_the_same_bits_from_either_trainer_and_the_plain_one_refuses_curvature():
    # The plain trainer leaves the Lanczos code out (compile time); batches that measure go
    # to the curvature trainer. A network that measures nothing must not care which ran it,
    # and the plain one must never silently skip a measurement.
    from fastdepth.kernels import trainer
    from fastdepth.kernels.vocab import STATUSES

    shapes = ((1, 0, "relu"), (3, 1, "tanh"))
    plain = [fd.RunConfig(dataset="rings", depth=d, epochs=30, n_train=64, n_test=32, seed=s,
                          activation=act) for d, s, act in shapes]  # fmt: skip
    measured = fd.RunConfig(dataset="rings", depth=2, epochs=30, n_train=64, n_test=32,
                            sharpness_every=10)  # fmt: skip
    a = _drive(trainer.train_batch_flat, plain)
    b = _drive(trainer.train_batch_flat_curvature, plain)
    assert list(a["status"]) == list(b["status"]) == [STATUSES["ok"]] * 2
    assert a["params"].tobytes() == b["params"].tobytes()
    assert np.array_equal(a["tel"], b["tel"], equal_nan=True)
    refused = _drive(trainer.train_batch_flat, [plain[0], measured])
    assert list(refused["status"]) == [STATUSES["ok"], STATUSES["bad_code"]]
    assert refused["params"][: a["p_off"][1]].tobytes() == a["params"][: a["p_off"][1]].tobytes()
    assert trainer.needs_curvature(fd.engine.pack_batch([measured]).arrays["icfg"])
    assert not trainer.needs_curvature(fd.engine.pack_batch(plain).arrays["icfg"])
    rule = fd.RunConfig(dataset="rings", depth=2, epochs=5, lr_rule="sharpness", lr=1.0)
    assert trainer.needs_curvature(fd.engine.pack_batch([rule]).arrays["icfg"])


def test_warm_up_compiles_the_trainer_a_study_needs_and_says_which(monkeypatch):
    """A study that measures the sharpness gets its trainer compiled before the first
    chunk (so the sweep's rate and ETA describe training), with a notice naming it."""
    from fastdepth.kernels import trainer

    from fastdepth.runner import chunks

    monkeypatch.setattr(chunks, "WARM_NOTE_AFTER", 0.0)
    monkeypatch.setattr(chunks, "_READY", set())
    notes: list[str] = []
    chunks.warm_up({"float64"}, notes.append, curvature={True})
    assert chunks._READY == {("float64", True)}
    assert trainer.train_batch_flat_curvature.overloads
    assert notes and "trainer with the sharpness" in notes[0]
    notes.clear()
    assert chunks.warm_up({"float64"}, notes.append, curvature={True}) == 0.0 and not notes
    grid = fd.Grid({"depth": [1, 2], "sharpness_every": [0, 5], "epochs": 3})
    assert sorted(grid.distinct("measures_sharpness")) == [False, True]
    chunks.warm_up(set(grid.distinct("dtype")), notes.append, grid.distinct("measures_sharpness"))
    assert chunks._READY == {("float64", True), ("float64", False)}
    assert "compiling the trainer (" in notes[0]
