"""Workload W1 in JAX, for the README's side-by-side comparison (not a fastdepth dependency).

Run it in an environment with JAX (``pip install "jax[cpu]"``), on the same machine as
``python -m bench.report``::

    python bench/peers/jax_w1.py [--seeds 50]

The program is the fastest plain JAX we know for this job: float64, one ``jit`` per
depth, ``vmap`` over the seeds, ``lax.scan`` over the 1000 steps, and the same
telemetry as W1 (loss, total and per-layer gradient norms every step). The data are
nested rings drawn here with NumPy (same sizes as fastdepth's; FLOPs do not depend on
the values). Compile time is reported apart and left out of GFLOP/s.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

DEPTHS = (1, 2, 4, 6, 8)
WIDTH, N, STEPS, LR = 16, 1000, 1000, 0.05


def rings(n: int = N, k: int = 4, noise: float = 0.1, seed: int = 0):
    rng = np.random.default_rng(seed)
    ring = np.arange(n) % k
    r = ring + 1.0 + noise * rng.standard_normal(n)
    a = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(a), r * np.sin(a)], 1), (ring % 2).astype(np.float64)


def init(key, depth: int):
    sizes = [2, *([WIDTH] * depth), 1]
    params = []
    for fi, fo in zip(sizes[:-1], sizes[1:], strict=True):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (fi, fo)) * jnp.sqrt(2.0 / fi), jnp.zeros(fo)))
    return params


def loss_fn(params, X, y):
    h = X
    for W, b in params[:-1]:
        h = jax.nn.relu(h @ W + b)
    W, b = params[-1]
    z = (h @ W + b)[:, 0]
    return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))


def make_train(X, y):
    def train(params):
        def step(p, _):
            loss, g = jax.value_and_grad(loss_fn)(p, X, y)
            per_layer = jnp.stack([jnp.sqrt(jnp.sum(gW * gW)) for gW, _ in g])
            total = jnp.sqrt(sum(jnp.sum(gW * gW) + jnp.sum(gb * gb) for gW, gb in g))
            p = jax.tree.map(lambda a, d: a - LR * d, p, g)
            return p, (loss, total, per_layer)

        return jax.lax.scan(step, params, None, length=STEPS)

    return jax.jit(jax.vmap(train))


def flops(depth: int) -> float:
    s = 2 * WIDTH + (depth - 1) * WIDTH * WIDTH + WIDTH
    return (6 * s - 4 * WIDTH) * N * STEPS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    X, y = (jnp.asarray(a) for a in rings())
    train = make_train(X, y)
    batches, compile_s = {}, 0.0
    for d in DEPTHS:
        keys = jax.random.split(jax.random.PRNGKey(d), args.seeds)
        batches[d] = jax.vmap(lambda k, d=d: init(k, d))(keys)
        t = time.perf_counter()
        jax.block_until_ready(train(batches[d]))  # compile + first run
        compile_s += time.perf_counter() - t
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for d in DEPTHS:
            jax.block_until_ready(train(batches[d]))
        times.append(time.perf_counter() - t)
    wall = float(np.median(times))
    gflop = sum(flops(d) for d in DEPTHS) * args.seeds / 1e9
    print(f"jax {jax.__version__}, {len(jax.devices())} device(s), {args.seeds} seeds per depth")
    print(f"W1 in JAX: {wall:.1f} s (median of {args.repeats}), {gflop / wall:.1f} GFLOP/s; "
          f"first calls (compile + run) {compile_s:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
