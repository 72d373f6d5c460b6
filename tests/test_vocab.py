"""Every vocabulary entry has its own branch in the compiled core and in the reference.

A code that someone forgets to wire must fail loudly in both: the compiled dispatchers
return False (and the trainer a ``bad_code`` status), the reference raises. And no two
codes may share a branch, so each registered code is checked against every other one.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fastdepth.kernels import Layout, api, columns, reference, settings, telemetry, vocab
from fastdepth.kernels.activations import apply_activation, scale_by_derivative
from fastdepth.kernels.losses import loss_flat
from fastdepth.kernels.optim import optimizer_step, scheduled_lr
from fastdepth.kernels.trainer import train_batch_flat
from fastdepth.kernels.vocab import ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEDULES, STATUSES

import fastdepth as fd
from fastdepth import engine
from tests.conftest import assert_close

Z = np.array([-3.0, -1.5, -0.4, -1e-3, 0.0, 2e-3, 0.3, 1.1, 2.5, 4.0])


def _act(code, alpha=0.2):
    out = np.full_like(Z, np.nan)
    known = apply_activation(Z, 0, out, 0, Z.size, code, alpha)
    return known, out


def _dact(code, alpha=0.2):
    out = np.ones_like(Z)
    known = scale_by_derivative(Z, 0, out, 0, Z.size, code, alpha)
    return known, out


def test_tables_have_dense_codes_and_the_settings_are_the_tables():
    for table in vocab.VOCABULARIES.values():
        assert [table[n] for n in table] == list(range(len(table)))
        assert all(table.name_of(table[n]) == n for n in table)
    assert settings.ACTIVATIONS is ACTIVATIONS and settings.OPTIMIZERS is OPTIMIZERS
    assert settings.DEFAULT_ALPHA == {"leaky_relu": 0.01, "elu": 1.0}
    assert settings.STATUS_NAMES[settings.STATUS_DIVERGED] == "diverged"
    with pytest.raises(ValueError, match="no activation has code 8"):
        ACTIVATIONS.name_of(len(ACTIVATIONS))
    with pytest.raises(ValueError, match=r"unknown optimizer 'adma'; did you mean 'adam'\?"):
        OPTIMIZERS.entry("adma")


def test_a_table_refuses_gaps_and_duplicates():
    with pytest.raises(ValueError, match="codes must be 0..n-1"):
        vocab.Vocabulary("x", [vocab.Schedule("a", 1, "")])
    with pytest.raises(ValueError, match="duplicate"):
        vocab.Vocabulary("x", [vocab.Schedule("a", 0, ""), vocab.Schedule("a", 1, "")])


def test_did_you_mean_tries_case_then_aliases():
    assert vocab.did_you_mean("ReLU", ACTIVATIONS) == "relu"
    assert vocab.did_you_mean("learning_rate", ["lr", "epochs"], {"learning_rate": "lr"}) == "lr"
    assert vocab.did_you_mean("zzzz", ACTIVATIONS) is None
    assert vocab.hint("zzzz", ACTIVATIONS) == ""


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_has_its_own_compiled_and_reference_branch(name):
    code = ACTIVATIONS[name]
    known, h = _act(code)
    known_d, d = _dact(code)
    assert known and known_d, f"{name}: the compiled dispatch has no branch for code {code}"
    # the vectorised tanh & co. are within 3 ulp: normwise 1e-12 as every kernel
    assert_close(h, reference._act(Z, code, 0.2), what=f"{name} value")
    assert_close(d, reference._dact(Z, code, 0.2), what=f"{name} derivative")
    for other in ACTIVATIONS:
        if other != name:
            _, h2 = _act(ACTIVATIONS[other])
            _, d2 = _dact(ACTIVATIONS[other])
            assert not (np.array_equal(h, h2) and np.array_equal(d, d2)), (name, other)


def test_an_unregistered_activation_code_is_refused_everywhere():
    bad = len(ACTIVATIONS)
    known, h = _act(bad)
    assert not known and np.all(np.isnan(h)), "compiled activation wrote for an unknown code"
    known, d = _dact(bad)
    assert not known and np.all(d == 1)
    with pytest.raises(ValueError):
        reference._act(Z, bad, 0.2)
    with pytest.raises(ValueError):
        reference._dact(Z, bad, 0.2)


def _loss(code):
    y = (Z > 0.1).astype(np.float64)
    d = np.zeros_like(Z)
    loss, known = loss_flat(code, Z, 0, y, Z.size, d, 0, np.empty(Z.size))
    return known, loss, d


def test_every_loss_has_its_own_branch_and_an_unknown_one_is_refused():
    seen = {}
    for name in LOSSES:
        known, loss, d = _loss(LOSSES[name])
        assert known, name
        ref_loss, ref_d = reference._loss_fn(LOSSES[name])(Z, (Z > 0.1).astype(np.float64))
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-14)
        np.testing.assert_allclose(d, ref_d, rtol=1e-14)
        seen[name] = (loss, d.tobytes())
    assert len(set(seen.values())) == len(LOSSES)
    known, loss, d = _loss(len(LOSSES))
    assert not known and np.isnan(loss) and np.all(d == 0)
    with pytest.raises(ValueError):
        reference._loss_fn(len(LOSSES))


def _opt(code, steps=3):
    rng = np.random.default_rng(5)
    p = rng.standard_normal(11)
    s1, s2 = np.zeros(11), np.zeros(11)
    ok = True
    for t in range(1, steps + 1):
        g = np.sin(p * t) + 0.1
        ok = ok and optimizer_step(code, p, g, s1, s2, t, 0.05, 0.9, 0.9, 0.999, 1e-8, 1e-3)
    return ok, p


def test_every_optimizer_has_its_own_branch_and_an_unknown_one_is_refused():
    results = {}
    for name in OPTIMIZERS:
        ok, p = _opt(OPTIMIZERS[name])
        assert ok, name
        rng = np.random.default_rng(5)
        q = rng.standard_normal(11)
        s1, s2 = np.zeros(11), np.zeros(11)
        fc = np.zeros(columns.N_FCFG)
        fc[[columns.F_MOM, columns.F_BETA1, columns.F_BETA2, columns.F_EPS, columns.F_WD]] = (
            0.9, 0.9, 0.999, 1e-8, 1e-3,
        )  # fmt: skip
        for t in range(1, 4):
            reference._optimizer_step(OPTIMIZERS[name], q, np.sin(q * t) + 0.1, s1, s2, t, 0.05, fc)
        np.testing.assert_allclose(p, q, rtol=1e-13)
        results[name] = p.tobytes()
    assert len(set(results.values())) == len(OPTIMIZERS)
    ok, p = _opt(len(OPTIMIZERS))
    assert not ok
    np.testing.assert_array_equal(p, np.random.default_rng(5).standard_normal(11))
    with pytest.raises(ValueError):
        reference._optimizer_step(len(OPTIMIZERS), p, p, p, p, 1, 0.1, np.zeros(columns.N_FCFG))


def test_every_schedule_has_its_own_branch_and_an_unknown_one_is_refused():
    curves = {}
    for name in SCHEDULES:
        lrs = [scheduled_lr(SCHEDULES[name], 0.1, t, 10) for t in range(10)]
        assert all(k for _, k in lrs), name
        ref = [reference._scheduled_lr(SCHEDULES[name], 0.1, t, 10) for t in range(10)]
        assert [lr for lr, _ in lrs] == ref
        curves[name] = tuple(ref)
    assert len(set(curves.values())) == len(SCHEDULES)
    lr, known = scheduled_lr(len(SCHEDULES), 0.1, 3, 10)
    assert not known and np.isnan(lr)
    with pytest.raises(ValueError):
        reference._scheduled_lr(len(SCHEDULES), 0.1, 3, 10)


@pytest.mark.parametrize(
    "column, table", [(columns.I_ACT, ACTIVATIONS), (columns.I_LOSS, LOSSES),
                      (columns.I_OPT, OPTIMIZERS), (columns.I_SCHED, SCHEDULES)],
)  # fmt: skip
def test_the_compiled_trainer_stops_a_network_with_an_unknown_code(column, table):
    # train_batch validates codes, so go below it: the compiled driver itself must refuse.
    runs = [fd.RunConfig(epochs=3, n_train=20, n_test=10, depth=2, width=4, seed=s) for s in (0, 1)]
    a = engine.pack_batch(runs).arrays
    a["icfg"][1, column] = len(table)
    order = np.arange(2, dtype=np.int64)
    names = ("params", "p_off", "tables", "t_off", "icfg", "fcfg", "keys", "dinfo", "xtr", "ytr",
             "xte", "yte", "tel", "tel_off", "status", "div_step")  # fmt: skip
    args = [a[k] for k in names]
    train_batch_flat(*args, order, 0, 2)
    assert a["status"][0] == STATUSES["ok"]
    assert a["status"][1] == STATUSES["bad_code"]
    fresh = engine.pack_batch(runs).arrays
    fresh["icfg"][1, column] = len(table)
    with pytest.raises(ValueError, match="outside"):
        api.train_batch(**fresh)


def test_the_engine_raises_on_an_internal_status():
    run = fd.RunConfig(epochs=2, n_train=10, n_test=5, depth=1, width=3)
    batch = engine.pack_batch([run])
    engine.run_batch(batch, threads=1)
    batch.arrays["status"][0] = STATUSES["bad_code"]
    with pytest.raises(RuntimeError, match="bad_code.*bug"):
        engine.unpack_one(batch, 0)


def test_column_names_are_their_indices():
    for names, prefix in ((columns.ICFG, "I_"), (columns.FCFG, "F_"), (columns.DINFO, "D_")):
        consts = {k: v for k, v in vars(columns).items() if k.startswith(prefix) and k != "N_"}
        assert sorted(consts.values()) == list(range(len(names)))
    assert (
        columns.FCFG[columns.F_WD] == "weight_decay" and columns.ICFG[columns.I_OPT] == "optimizer"
    )
    # every fcfg column is a RunConfig field, so the engine can fill it by name
    fields = set(fd.RunConfig().to_dict())
    assert set(columns.FCFG) <= fields


@pytest.mark.parametrize(
    "nl, steps, le, ee", list(itertools.product([2, 5], [1, 7, 100], [1, 3], [1, 50]))
)
def test_telemetry_layout_owns_offsets_shapes_and_names(nl, steps, le, ee):
    lay = telemetry.TelemetryLayout(nl, steps, le, ee)
    d = telemetry.telemetry_layout(nl, steps, le, ee)
    assert lay.size == d["size"] == telemetry.telemetry_size(nl, steps, le, ee)
    assert lay.log_shape == d["log"][1] and lay.eval_shape == d["eval"][1]
    assert len(lay.log_columns) == lay.log_shape[1] and len(lay.eval_columns) == lay.eval_shape[1]
    assert lay.log_steps()[-1] < steps and lay.eval_steps()[-1] == steps
    assert len(lay.log_steps()) == lay.n_log and len(lay.eval_steps()) == lay.n_eval
    tel = np.arange(lay.size + 3, dtype=np.float64)
    log, ev, init = lay.split(tel, 3)
    assert log[0, 0] == 3 and ev[0, 0] == 3 + d["eval"][0] and init[0] == 3 + d["init"][0]
    assert init[-1] == tel[-1]
    fields = lay.init_fields(init)
    assert [len(fields[k]) for k in ("grad_norm", "signal_norm", "act_sq", "dead")] == [
        nl, nl, nl - 1, nl - 1]  # fmt: skip
    # the compiled twins compute the same numbers
    assert telemetry.block_offsets_c(nl, steps, le, ee) == lay.offsets
    assert telemetry.init_offsets_c(nl) == telemetry.init_offsets(nl)


def test_runconfig_cadences_are_the_telemetry_layouts():
    for epochs, le, ee in ((1000, 1, 50), (40, 7, 8), (10, 1, 3)):
        r = fd.RunConfig(epochs=epochs, log_every=le, eval_every=ee)
        lay = telemetry.TelemetryLayout(r.layout().n_layers, r.n_steps, le, ee)
        assert (r.n_log_points, r.n_eval_points) == (lay.n_log, lay.n_eval)


def test_one_flop_estimator_for_the_layout_the_run_and_the_thread_schedule():
    from fastdepth.kernels.layout import run_flops
    from fastdepth.kernels.schedule import batch_costs

    lay = Layout(2, [16, 16, 16])
    s = 2 * 16 + 16 * 16 * 2 + 16
    assert lay.flops_per_sample == 6 * s - 2 * 2 * 16
    runs = [fd.RunConfig(depth=3, epochs=30, eval_every=7),
            fd.RunConfig(depth=2, epochs=4, batch_size=64, eval_every=5)]  # fmt: skip
    for r in runs:
        assert r.flops() == run_flops(r.layout().table, r.n_train, r.n_test, r.epochs,
                                      r.n_eval_points)  # fmt: skip
        assert r.flops(include_eval=False) == lay.flops_per_sample * r.n_train * r.epochs or (
            r.depth != 3
        )
    a = engine.pack_batch(runs).arrays
    costs = batch_costs(a["p_off"], a["tables"], a["t_off"], a["icfg"], a["dinfo"])
    assert list(costs) == [r.flops() for r in runs]
