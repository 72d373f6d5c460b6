"""The grid cells of ``bench.grid`` in JAX (run by it, in the peers' own environment).

``python bench/peers/jax_grid.py --cells cells.json --threads 1 --out jax.json``

The fastest plain JAX we know for the job: float64, one ``jit`` per cell, ``vmap`` over
the seeds, ``lax.scan`` over the steps, the same telemetry as fastdepth (loss, total and
per-layer weight-gradient norms every step), SGD or Adam written out. One thread:
``XLA_FLAGS`` single-threaded Eigen plus the CPU affinity that ``bench.grid`` sets.
Compile time is measured apart (``lower().compile()``) and left out of ``seconds``.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

args = common.parse(__doc__.splitlines()[0])
if args.threads == 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                               "false intra_op_parallelism_threads=1")  # fmt: skip

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)
ACT = {"relu": jax.nn.relu, "tanh": jnp.tanh, "gelu": lambda z: jax.nn.gelu(z, approximate=False)}


def init(key, cell):
    params = []
    s = common.sizes(cell)
    for fi, fo in zip(s[:-1], s[1:], strict=True):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (fi, fo)) * common.init_scale(cell, fi),
                       jnp.zeros(fo)))  # fmt: skip
    return params


def make_train(cell, X, y):
    act = ACT[cell["activation"]]
    bs, steps, lr = cell["batch"], cell["steps"], cell["lr"]
    spe = X.shape[0] // bs
    adam = cell["optimizer"] == "adam"
    b1, b2, eps = 0.9, 0.999, 1e-8

    def loss_fn(params, xb, yb):
        h = xb
        for W, b in params[:-1]:
            h = act(h @ W + b)
        W, b = params[-1]
        z = (h @ W + b)[:, 0]
        return jnp.mean(jnp.maximum(z, 0) - z * yb + jnp.log1p(jnp.exp(-jnp.abs(z))))

    def train(params):
        zeros = jax.tree.map(jnp.zeros_like, params)

        def step(state, t):
            p, m, v = state
            start = (t % spe) * bs
            xb = jax.lax.dynamic_slice_in_dim(X, start, bs)
            yb = jax.lax.dynamic_slice_in_dim(y, start, bs)
            loss, g = jax.value_and_grad(loss_fn)(p, xb, yb)
            per_layer = jnp.stack([jnp.sqrt(jnp.sum(gW * gW)) for gW, _ in g])
            total = jnp.sqrt(sum(jnp.sum(gW * gW) + jnp.sum(gb * gb) for gW, gb in g))
            if adam:
                m = jax.tree.map(lambda a, d: b1 * a + (1 - b1) * d, m, g)
                v = jax.tree.map(lambda a, d: b2 * a + (1 - b2) * d * d, v, g)
                k = t + 1.0
                step_size = lr / (1 - b1**k)
                sq = jnp.sqrt(1 - b2**k)
                p = jax.tree.map(lambda a, mi, vi: a - step_size * (mi / (jnp.sqrt(vi) / sq + eps)),
                                 p, m, v)  # fmt: skip
            else:
                p = jax.tree.map(lambda a, d: a - lr * d, p, g)
            return (p, m, v), (loss, total, per_layer)

        (p, _, _), tel = jax.lax.scan(step, (params, zeros, zeros), jnp.arange(steps))
        return p, tel

    return jax.jit(jax.vmap(train))


results = []
for cell in common.read_cells(args.cells):
    X, y = (jnp.asarray(a) for a in common.data(cell["n"]))
    keys = jax.random.split(jax.random.PRNGKey(0), cell["seeds"])
    params = jax.vmap(lambda k, c=cell: init(k, c))(keys)
    t = time.perf_counter()
    fn = make_train(cell, X, y).lower(params).compile()
    compile_s = time.perf_counter() - t
    best, tel = float("inf"), None
    for _ in range(args.repeats):
        t = time.perf_counter()
        _, tel = jax.block_until_ready(fn(params))
        best = min(best, time.perf_counter() - t)
    loss = np.asarray(tel[0])
    results.append({"name": cell["name"], "seconds": best, "compile_seconds": compile_s,
                    "loss_first": float(loss[:, 0].mean()),
                    "loss_last": float(loss[:, -1].mean())})  # fmt: skip
    print(f"jax {cell['name']}: {best:.2f} s (+{compile_s:.1f} s compile)", file=sys.stderr)
common.write_results(args.out, results, {"peer": "jax", "version": jax.__version__,
                                         "threads": args.threads})  # fmt: skip
