"""The grid cells of ``bench.grid`` in PyTorch (run by it, in the peers' own environment).

``python bench/peers/torch_grid.py --cells cells.json --threads 1 --out torch.json``

All seeds of a cell train at once as batched matrices: layer ``k`` of every seed is one
``(seeds, fan_in, fan_out)`` tensor and the forward is ``baddbmm`` (bias + h @ W per seed);
autograd gives the gradients, ``torch.optim.SGD`` / ``Adam`` (``foreach``) update them
(elementwise, so batching the seeds changes nothing). Float64, and the same telemetry as
fastdepth: the loss, the total and the per-layer weight-gradient norms of every seed,
every step, written into preallocated tensors (no host sync per step).
``torch.set_num_threads(threads)``.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

args = common.parse(__doc__.splitlines()[0])
torch.set_num_threads(args.threads)
torch.set_num_interop_threads(1)
ACT = {"relu": torch.relu, "tanh": torch.tanh, "gelu": F.gelu}  # gelu: exact erf form


def train(cell, X, y):
    S, bs, steps = cell["seeds"], cell["batch"], cell["steps"]
    act = ACT[cell["activation"]]
    g = torch.Generator().manual_seed(0)
    Ws, bs_ = [], []
    s = common.sizes(cell)
    for fi, fo in zip(s[:-1], s[1:], strict=True):
        W = torch.randn(S, fi, fo, generator=g, dtype=torch.float64) * common.init_scale(cell, fi)
        Ws.append(W.requires_grad_())
        bs_.append(torch.zeros(S, 1, fo, dtype=torch.float64, requires_grad=True))
    params = [t for pair in zip(Ws, bs_, strict=True) for t in pair]
    opt = (torch.optim.Adam(params, lr=cell["lr"], foreach=True) if cell["optimizer"] == "adam"
           else torch.optim.SGD(params, lr=cell["lr"], foreach=True))  # fmt: skip
    spe = X.shape[0] // bs
    nl = len(Ws)
    tel_loss = torch.empty(steps, S, dtype=torch.float64)
    tel_norm = torch.empty(steps, S, dtype=torch.float64)
    tel_layers = torch.empty(steps, S, nl, dtype=torch.float64)
    for t in range(steps):
        start = (t % spe) * bs
        xb = X[start : start + bs].expand(S, bs, X.shape[1])
        yb = y[start : start + bs]
        h = xb
        for k in range(nl - 1):
            h = act(torch.baddbmm(bs_[k], h, Ws[k]))
        z = torch.baddbmm(bs_[-1], h, Ws[-1])[:, :, 0]
        per_seed = F.binary_cross_entropy_with_logits(z, yb.expand(S, bs), reduction="none")
        per_seed = per_seed.mean(1)
        opt.zero_grad(set_to_none=False)
        per_seed.sum().backward()  # seeds are independent: each gets its own gradient
        with torch.no_grad():
            tel_loss[t] = per_seed
            sq = torch.stack([W.grad.pow(2).sum((1, 2)) for W in Ws], 1)
            tel_layers[t] = sq.sqrt()
            tel_norm[t] = (sq.sum(1) + sum(b.grad.pow(2).sum((1, 2)) for b in bs_)).sqrt()
        opt.step()
    return tel_loss


results = []
for cell in common.read_cells(args.cells):
    X, y = (torch.from_numpy(a) for a in common.data(cell["n"]))
    t = time.perf_counter()
    warm = dict(cell, steps=min(cell["steps"], 3))
    train(warm, X, y)  # first calls: allocator, kernels' dispatch caches
    compile_s = time.perf_counter() - t
    best, loss = float("inf"), None
    for _ in range(args.repeats):
        t = time.perf_counter()
        loss = train(cell, X, y)
        best = min(best, time.perf_counter() - t)
    results.append({"name": cell["name"], "seconds": best, "compile_seconds": compile_s,
                    "loss_first": float(loss[0].mean()),
                    "loss_last": float(loss[-1].mean())})  # fmt: skip
    print(f"torch {cell['name']}: {best:.2f} s", file=sys.stderr)
common.write_results(args.out, results, {"peer": "torch", "version": torch.__version__,
                                         "threads": args.threads})  # fmt: skip
