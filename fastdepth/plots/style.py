"""The look every figure shares: :data:`STYLE`, sizes, and the depth palette."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# Paper-ready defaults, applied only while a figure is built (never globally).
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.5,
    "grid.alpha": 0.35,
    "axes.axisbelow": True,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "errorbar.capsize": 2.5,
    "image.interpolation": "nearest",
    "svg.hashsalt": "fastdepth",  # deterministic SVG ids
}
PANEL_W, PANEL_H = 3.4, 2.5  # inches per panel
TITLE_SIZE, SUBTITLE_SIZE = 11.5, 8.5
# Two classes of a 2-D dataset: Okabe-Ito blue / vermillion, also told apart by the marker.
CLASS_COLORS = ("#0072B2", "#D55E00")
CLASS_MARKERS = ("o", "^")


# At most this many depths in one panel of curves: one colour each, told apart at a glance.
MAX_DEPTHS = 16
# The depth palette: a cubehelix path (Green 2011) whose luma, 0.299 R + 0.587 G + 0.114 B,
# rises linearly from dark to light while the hue turns 2.5 times. Lightness orders the
# depths (and survives grey scale and colour-vision deficiencies); the hue turn sets
# neighbours apart: any two of 16 depths differ by at least 20 CIELAB units (viridis:
# 7.6), of 8 depths by 40 (viridis: 16). Its ends leave out near-black and the palest
# colours, which are hard to tell apart or to see on white.
_HELIX = {"start": 2.25, "rotations": 2.5, "hue": 1.5, "dark": 0.16, "light": 0.74}


def _cubehelix(t: np.ndarray) -> np.ndarray:
    """sRGB (n, 3) of the depth palette at positions ``t`` in [0, 1] (dark to light)."""
    lam = _HELIX["dark"] + (_HELIX["light"] - _HELIX["dark"]) * np.asarray(t, np.float64)[:, None]
    phi = 2 * np.pi * (_HELIX["start"] / 3 + _HELIX["rotations"] * lam)
    amp = _HELIX["hue"] * lam * (1 - lam) / 2
    rgb = lam + amp * (np.cos(phi) * np.array([-0.14861, -0.29227, 1.97294])
                       + np.sin(phi) * np.array([1.78277, -0.90649, 0.0]))  # fmt: skip
    return np.clip(rgb, 0.0, 1.0)


def depth_groups(depths: Sequence[int], max_depths: int = MAX_DEPTHS) -> list[list[int]]:
    """The depths, sorted, in as few runs of consecutive depths of at most ``max_depths``
    as possible, of nearly equal sizes (20 depths: 10 + 10). Figures that tell depths
    apart by colour alone show one group per figure.
    """
    ds = sorted({int(d) for d in depths})
    n = max(1, math.ceil(len(ds) / max_depths))
    return [[int(d) for d in part] for part in np.array_split(np.array(ds), n) if part.size]


def depth_palette(depths: Sequence[int]) -> dict[int, tuple[float, float, float, float]]:
    """One colour per depth, ordered from shallow (dark) to deep (light).

    Up to :data:`MAX_DEPTHS` depths spread over the whole palette, each distinct from every
    other. More depths are split into :func:`depth_groups` and each group spans the
    palette: a depth is told apart from the depths of its own group, which the report draws
    together.

    Parameters
    ----------
    depths : sequence of int
        Any order, repeats allowed.

    Returns
    -------
    dict
        depth -> RGBA tuple of float, sorted by depth.
    """
    out: dict[int, tuple[float, float, float, float]] = {}
    for group in depth_groups(depths):
        t = np.linspace(0.0, 1.0, len(group)) if len(group) > 1 else np.array([0.35])
        for d, rgb in zip(group, _cubehelix(t), strict=True):
            out[d] = (float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0)
    return out
