"""A grid of shapes beside W1: ``python -m bench.grid [--repeats 3] [--peers] [--json out.json]``.

Each cell is one training job (rings, BCE, loss and every layer's gradient norm logged
every step) at one shape: width, sample count ``n``, minibatch, activation, optimizer,
depth, and a few seeds. fastdepth trains it at 1 thread and at all cores, interleaved
cell by cell and round by round (medians of ``--repeats``); the NumPy reference trainer
runs one seed for a tenth of the epochs (its cost per FLOP does not depend on either);
with ``--peers`` the JAX and PyTorch versions (``bench/peers/*_grid.py``) run in the
peers' own environment (``--peer-python``, or ``$FASTDEPTH_PEER_PYTHON``: an interpreter
with JAX, PyTorch and NumPy, never fastdepth's own) for a quarter of the steps (at most
300), at 1 thread (pinned to one CPU) and at all cores, each cell's best of two timed
runs after its compile. Every rate is GFLOP/s of training (``6 S - 2 w_1`` per sample
and step, :func:`fastdepth.kernels.layout.train_flops_per_sample`) and a share of this
machine's FMA roof (:mod:`bench.roof`); ``vs best peer`` is fastdepth over the faster
peer at the same thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import numba

import fastdepth as fd
from bench import roof as _roof

PEERS = ("jax", "torch")
# A peer's time per step is steady once compiled, so its share of the steps is capped:
# PyTorch pays ~1 ms of Python per step and would otherwise dominate the grid's run time.
PEER_MAX_STEPS = 300
_HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class Cell:
    """One shape of the grid; ``batch = None`` is full batch."""

    name: str
    width: int
    depth: int
    n: int
    batch: int | None
    activation: str
    optimizer: str
    seeds: int
    epochs: int

    @property
    def lr(self) -> float:
        return 1e-3 if self.optimizer == "adam" else 0.05

    def runs(self, seeds: int | None = None, epochs: int | None = None) -> list[fd.RunConfig]:
        """The cell's runs (``seeds`` and ``epochs`` override the cell's)."""
        epochs = epochs or self.epochs
        base = fd.RunConfig(dataset="rings", n_train=self.n, n_test=min(self.n, 1000),
                            width=self.width, depth=self.depth, activation=self.activation,
                            init="he" if self.activation == "relu" else "xavier",
                            optimizer=self.optimizer, lr=self.lr, batch_size=self.batch,
                            epochs=epochs, log_every=1)  # fmt: skip
        base = base.replace(eval_every=base.n_steps)  # accuracy at the start and end only
        return [base.replace(seed=s) for s in range(seeds or self.seeds)]

    def peer_spec(self, fraction: float) -> dict:
        """The cell for the peers: whole minibatches only, ``fraction`` of the steps."""
        batch = self.batch or self.n
        steps = min(PEER_MAX_STEPS, max(4, round(self.epochs * (self.n // batch) * fraction)))
        return {"name": self.name, "n": self.n, "width": self.width, "depth": self.depth,
                "batch": batch, "activation": self.activation, "optimizer": self.optimizer,
                "lr": self.lr, "seeds": self.seeds, "steps": steps}  # fmt: skip


def gflop(runs: list[fd.RunConfig]) -> float:
    """Training GFLOP of ``runs``: every epoch trains on each sample once."""
    return sum(r.layout().flops_per_sample * r.n_train * r.epochs for r in runs) / 1e9


def peer_gflop(cell: Cell, spec: dict) -> float:
    """Training GFLOP of a peer's run of ``spec`` (``steps`` whole minibatches per seed)."""
    per_sample = cell.runs(1)[0].layout().flops_per_sample
    return per_sample * spec["batch"] * spec["steps"] * spec["seeds"] / 1e9


# Widths 8-256, n 200-20 000, full batch and minibatches of 16 and 64, relu / tanh / gelu,
# SGD / Adam, depths 1-16; epochs sized for about a second per cell on 2 threads.
CELLS = (
    Cell("w8 d1 n200 full relu sgd", 8, 1, 200, None, "relu", "sgd", 16, 4000),
    Cell("w16 d4 n1000 full relu sgd", 16, 4, 1000, None, "relu", "sgd", 16, 500),
    Cell("w16 d4 n1000 full tanh sgd", 16, 4, 1000, None, "tanh", "sgd", 16, 200),
    Cell("w16 d4 n1000 full gelu sgd", 16, 4, 1000, None, "gelu", "sgd", 16, 100),
    Cell("w16 d16 n1000 full tanh sgd", 16, 16, 1000, None, "tanh", "sgd", 8, 150),
    Cell("w32 d8 n2000 full relu adam", 32, 8, 2000, None, "relu", "adam", 8, 100),
    Cell("w64 d4 n5000 full relu sgd", 64, 4, 5000, None, "relu", "sgd", 4, 60),
    Cell("w128 d2 n20000 full relu sgd", 128, 2, 20000, None, "relu", "sgd", 2, 20),
    Cell("w256 d2 n2000 full tanh adam", 256, 2, 2000, None, "tanh", "adam", 2, 60),
    Cell("w32 d4 n2000 mb16 relu sgd", 32, 4, 2000, 16, "relu", "sgd", 8, 40),
    Cell("w32 d4 n2000 mb64 relu adam", 32, 4, 2000, 64, "relu", "adam", 8, 100),
    Cell("w64 d8 n4096 mb64 tanh sgd", 64, 8, 4096, 64, "tanh", "sgd", 4, 10),
    Cell("w256 d1 n20000 mb64 gelu adam", 256, 1, 20000, 64, "gelu", "adam", 2, 4),
    Cell("w8 d16 n512 mb16 relu sgd", 8, 16, 512, 16, "relu", "sgd", 16, 100),
)


def _median_times(cells, cores: int, repeats: int) -> dict[tuple[str, int], float]:
    runs = {c.name: c.runs() for c in cells}
    for c in cells:  # compile every code path before timing
        fd.train_many(c.runs(1, epochs=1), threads=1)
    samples: dict[tuple[str, int], list[float]] = {}
    for _ in range(repeats):
        for c in cells:
            for threads in sorted({1, cores}):
                t = time.perf_counter()
                res = fd.train_many(runs[c.name], threads=threads)
                samples.setdefault((c.name, threads), []).append(time.perf_counter() - t)
                bad = [r.status for r in res if r.status != "ok"]
                if bad:  # a diverged run stops early and would look fast
                    raise RuntimeError(f"{c.name}: runs ended {bad}")
    return {k: statistics.median(v) for k, v in samples.items()}


def _reference_rates(cells) -> dict[str, float]:
    out = {}
    for c in cells:
        runs = c.runs(1, epochs=max(1, c.epochs // 10))
        t = time.perf_counter()
        fd.train_many(runs, threads=1, backend="reference")
        out[c.name] = gflop(runs) / (time.perf_counter() - t)
    return out


def run_peers(cells, cores: int, python: str, fraction: float) -> dict:
    """``{(peer, threads): {cell name: result}}`` from the peer scripts."""
    specs = [c.peer_spec(fraction) for c in cells]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cells.json")
        with open(path, "w") as f:
            json.dump(specs, f)
        for peer in PEERS:
            for threads in sorted({1, cores}):
                res = os.path.join(tmp, f"{peer}{threads}.json")
                cmd = [python, os.path.join(_HERE, "peers", f"{peer}_grid.py"), "--cells", path,
                       "--threads", str(threads), "--out", res]  # fmt: skip
                if threads == 1:
                    cmd = ["taskset", "-c", "0", *cmd]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                with open(res) as f:
                    got = json.load(f)
                out[(peer, threads)] = {r["name"]: dict(r, meta=got["meta"]) for r in got["cells"]}
    return out


def measure(cells, repeats: int, peers: bool, python: str, fraction: float = 0.25) -> dict:
    """Every figure of the table, as plain data (what ``--json`` writes)."""
    cores = numba.config.NUMBA_NUM_THREADS
    load0 = os.getloadavg()[0]
    roof = _roof.measure(cores)
    med = _median_times(cells, cores, repeats)
    ref = _reference_rates(cells)
    peer = run_peers(cells, cores, python, fraction) if peers else {}
    roof = _roof.merge(roof, _roof.measure(cores))
    rows = []
    for c in cells:
        g = gflop(c.runs())
        row = {"cell": asdict(c), "gflop": g, "reference": ref[c.name]}
        for threads in sorted({1, cores}):
            rate = g / med[(c.name, threads)]
            row[f"fd_{threads}"] = rate
            row[f"fd_{threads}_share"] = roof.share(rate, "float64", threads)
            for p in PEERS:
                if (p, threads) in peer:
                    r = peer[(p, threads)][c.name]
                    row[f"{p}_{threads}"] = peer_gflop(c, c.peer_spec(fraction)) / r["seconds"]
                    row[f"{p}_{threads}_compile"] = r["compile_seconds"]
        rows.append(row)
    meta = {f"{p}_{t}": next(iter(v.values()))["meta"] for (p, t), v in peer.items()}
    return {"cores": cores, "roof": roof.describe(), "repeats": repeats, "rows": rows,
            "load": [load0, os.getloadavg()[0]], "peers": meta}  # fmt: skip


def format_table(data: dict) -> list[str]:
    """Markdown lines of the grid table."""
    cores = data["cores"]
    ts = sorted({1, cores})
    head = ["cell", "GFLOP"]
    for t in ts:
        head += [f"fastdepth {t}t GFLOP/s (roof)"]
    head += ["NumPy ref"]
    have_peers = any(f"jax_{t}" in r for r in data["rows"] for t in ts)
    if have_peers:
        head += [f"{p} {t}t" for t in ts for p in PEERS] + [f"vs best peer {t}t" for t in ts]
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in data["rows"]:
        line = [r["cell"]["name"], f"{r['gflop']:.1f}"]
        for t in ts:
            line.append(f"{r[f'fd_{t}']:.1f} ({100 * r[f'fd_{t}_share']:.0f}%)")
        line.append(f"{r['reference']:.2f}")
        if have_peers:
            line += [f"{r[f'{p}_{t}']:.1f}" for t in ts for p in PEERS]
            line += [f"{r[f'fd_{t}'] / max(r[f'{p}_{t}'] for p in PEERS):.1f}x" for t in ts]
        out.append("| " + " | ".join(line) + " |")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="fastdepth timings per cell (median)")
    ap.add_argument("--peers", action="store_true", help="also run the JAX and PyTorch peers")
    ap.add_argument("--peer-python", default=os.environ.get("FASTDEPTH_PEER_PYTHON", ""),
                    help="the peers' interpreter (JAX, PyTorch, NumPy; default: "
                         "$FASTDEPTH_PEER_PYTHON)")  # fmt: skip
    ap.add_argument("--cells", default="", help="comma-separated cell numbers (1-based)")
    ap.add_argument("--json", default="", help="also write every figure to this file")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats: expected an integer >= 1, got {args.repeats}")
    if args.peers and not args.peer_python:
        ap.error("--peers needs --peer-python or $FASTDEPTH_PEER_PYTHON (JAX and PyTorch)")
    cells = CELLS
    if args.cells:
        try:
            cells = [CELLS[int(i) - 1] for i in args.cells.split(",")]
        except (ValueError, IndexError):
            ap.error(f"--cells: expected numbers 1-{len(CELLS)}, got {args.cells!r}")
    data = measure(cells, args.repeats, args.peers, args.peer_python)
    print(f"fastdepth {fd.__version__}, {data['cores']} cores, medians of {args.repeats}; "
          f"load average {data['load'][0]:.2f} before, {data['load'][1]:.2f} after")  # fmt: skip
    print(data["roof"] + "\n")
    print("\n".join(format_table(data)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
