"""Synthetic tabular problems with strong interactions between decisions and an additive cost.

Both are built deterministically from a seed (nothing downloaded) and are hard for additive models of quality by
construction; ``additive_r2`` measures how hard (the R^2 of a one-hot least-squares fit over the whole table).

- ``cell-<seed>``: a NAS-Bench-201-like cell: 4 nodes, 6 edges, 5 ops each (15,625 cells). A ``none`` edge cuts
  paths, so a convolution on an edge that no longer connects input to output is useless (its cost stays);
  accuracy comes from the compute along the open input-output paths (diminishing returns in depth and breadth),
  an identity shortcut that helps deep paths, random pairwise terms between live edges, and a disconnected cell
  at chance (10%). Three "trained seeds" per cell (sd 0.3 points). Cost: convolution MACs (conv3x3 > conv1x1 >
  others = 0). Cells that compute the same network (dead edges set to ``none``) are one distinct network.
- ``mixed-<seed>``: architecture + training settings, 9 categorical decisions of sizes 2-6 (62,208
  configurations): depth, width, kernel, learning rate, batch size, weight decay, epochs, dropout, optimizer. The
  best learning rate depends on batch size, optimizer and depth (too high diverges: chance), capacity on width x
  depth x kernel, overfitting on width x epochs x dropout x weight decay, too few steps on batch x epochs.
  Noise-free scores (a surrogate table). Costs: parameters (millions) and GPU hours, each additive per decision.
"""

from __future__ import annotations

import itertools

import numpy as np

from ddp_core import CostTable

CELL_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
CELL_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
CELL_PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))  # input->output paths as edge indices
_OP_COMPUTE = np.array([0.0, 0.0, 0.5, 1.0, 0.15])  # effective compute an op adds along a path
_CONV_MACS_M = [0.0, 0.0, 16 * 16 * 32 * 32 / 1e6, 16 * 16 * 9 * 32 * 32 / 1e6, 0.0]  # 16 channels, 32 x 32


def grid(sizes) -> np.ndarray:
    """Every architecture, row-major (the index order of quality_problems.Problem)."""
    return np.array(list(itertools.product(*[range(s) for s in sizes])), dtype=np.int64)


def additive_r2(sizes, values: np.ndarray) -> float:
    """R^2 of the best additive (one-hot, per decision) fit of ``values`` over the whole table."""
    architectures = grid(sizes)
    columns = [np.ones(len(values))]
    for e, s in enumerate(sizes):
        columns += [(architectures[:, e] == k).astype(float) for k in range(1, s)]
    features = np.stack(columns, axis=1)
    coefficients = np.linalg.lstsq(features, values, rcond=None)[0]
    residual = values - features @ coefficients
    return float(1 - residual.var() / values.var())


def cell_live_edges(ops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(live (N, 6) bool, connected (N,) bool): an edge is live when it is not ``none``, its source is reached
    from the input and its target reaches the output through edges that are not ``none``."""
    open_edge = ops != 0
    from_input = np.ones((len(ops), 4), bool)
    for j in (1, 2, 3):
        from_input[:, j] = np.any([open_edge[:, e] & from_input[:, i] for e, (i, t) in enumerate(CELL_EDGES) if t == j],
                                  axis=0)
    to_output = np.ones((len(ops), 4), bool)
    for i in (2, 1, 0):
        to_output[:, i] = np.any([open_edge[:, e] & to_output[:, t] for e, (s, t) in enumerate(CELL_EDGES) if s == i],
                                 axis=0)
    live = np.stack([open_edge[:, e] & from_input[:, i] & to_output[:, t] for e, (i, t) in enumerate(CELL_EDGES)],
                    axis=1)
    return live, from_input[:, 3]


def cell_accuracy(ops: np.ndarray, seed: int) -> np.ndarray:
    """Accuracy in [0, 1] of every cell in ``ops`` (N, 6); deterministic given ``seed``."""
    rng = np.random.default_rng(seed)
    live, connected = cell_live_edges(ops)
    compute = np.zeros((len(ops), len(CELL_PATHS)))
    is_open = np.zeros((len(ops), len(CELL_PATHS)), bool)
    shortcut = np.zeros(len(ops), bool)  # an open path of skip connections only
    for p, path in enumerate(CELL_PATHS):
        is_open[:, p] = np.all(ops[:, list(path)] != 0, axis=1)
        compute[:, p] = np.where(is_open[:, p], _OP_COMPUTE[ops[:, list(path)]].sum(axis=1), 0.0)
        shortcut |= is_open[:, p] & np.all(ops[:, list(path)] == 1, axis=1)
    depth = compute.max(axis=1)
    breadth = compute.sum(axis=1) - depth
    quality = 0.62 * (1 - np.exp(-0.9 * depth)) + 0.22 * (1 - np.exp(-0.45 * breadth))
    quality += np.where(shortcut, 0.10 * np.minimum(depth, 2.0) / 2, -0.06 * np.maximum(depth - 1.5, 0.0))
    pools = np.sum(live & (ops == 4), axis=1)
    quality -= 0.02 * pools * (depth > 0)  # blurring next to convolutions
    for a, b in itertools.combinations(range(len(CELL_EDGES)), 2):  # pairwise terms between live edges
        table = 0.025 * rng.standard_normal((len(CELL_OPS), len(CELL_OPS)))
        quality += np.where(live[:, a] & live[:, b], table[ops[:, a], ops[:, b]], 0.0)
    quality += np.where(live, 0.012 * rng.standard_normal((len(CELL_EDGES), len(CELL_OPS)))[
        np.arange(len(CELL_EDGES)), ops], 0.0).sum(axis=1)
    low, high = quality[connected].min(), quality[connected].max()
    unit = (quality - low) / (high - low)
    accuracy = 0.45 + 0.495 * (1 - (1 - unit) ** 2.5)
    return np.where(connected, accuracy, 0.10)


def cell_tables(seed: int) -> dict:
    """Everything quality_problems.Problem needs for ``cell-<seed>``."""
    sizes = [len(CELL_OPS)] * len(CELL_EDGES)
    ops = grid(sizes)
    true = cell_accuracy(ops, seed)
    live, connected = cell_live_edges(ops)
    canonical = np.where(live, ops, 0)
    labels = np.unique(canonical @ (len(CELL_OPS) ** np.arange(len(CELL_EDGES))), return_inverse=True)[1]
    labels = np.where(connected, labels, -1)  # every disconnected cell is the same useless network
    rng = np.random.default_rng(10_000 + seed)
    observations = np.clip(true[:, None] + 0.003 * rng.standard_normal((len(true), 3)), 0.0, 1.0)
    observations[~connected] = 0.10
    costs = {"conv_macs_m": CostTable("conv_macs_m", 0.0, [_CONV_MACS_M] * len(CELL_EDGES))}
    names = [[f"{op}" for op in CELL_OPS]] * len(CELL_EDGES)
    return {"sizes": sizes, "true": true, "observations": observations, "distinct": labels, "costs": costs,
            "candidate_names": names}


MIXED_DECISIONS = (
    ("depth", (8, 14, 20)),
    ("width", (16, 32, 64, 96)),
    ("kernel", (3, 5, 7)),
    ("learning_rate", (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)),
    ("batch_size", (32, 128, 512, 2048)),
    ("weight_decay", (0.0, 5e-4, 5e-3)),
    ("epochs", (10, 30, 90, 200)),
    ("dropout", (0.0, 0.2, 0.5)),
    ("optimizer", ("sgd", "adam")),
)


def mixed_accuracy(settings: np.ndarray, seed: int) -> np.ndarray:
    """Accuracy in [0, 1] of every configuration (N, 9 candidate indices); deterministic given ``seed``."""
    rng = np.random.default_rng(seed)
    value = {name: np.asarray(choices, dtype=object)[settings[:, e]] for e, (name, choices) in enumerate(MIXED_DECISIONS)}
    depth, width, kernel = (value[n].astype(float) for n in ("depth", "width", "kernel"))
    log_lr, batch = np.log10(value["learning_rate"].astype(float)), value["batch_size"].astype(float)
    wd, epochs, dropout = (value[n].astype(float) for n in ("weight_decay", "epochs", "dropout"))
    adam = value["optimizer"] == "adam"
    # the best learning rate: linear-ish scaling with batch size, lower for Adam and for deep plain networks
    best_lr = np.where(adam, -2.6, -1.1) + 0.5 * np.log10(batch / 128) - 0.4 * (depth - 8) / 12 + rng.normal(0, 0.1)
    lr_penalty = 0.11 * (log_lr - best_lr) ** 2
    diverged = log_lr - best_lr > np.where(adam, 1.3, 1.6)
    capacity = np.log2(width / 16 * (depth / 8) ** 0.7 * (kernel / 3) ** 0.5 + 1) / np.log2(6 * 2.5**0.7 * 1.53 + 1)
    steps = epochs * 50_000 / batch
    training = 1 - np.exp(-steps / np.where(adam, 8_000, 14_000))  # too few optimizer steps
    regular = dropout * np.where(width >= 64, 1.0, 0.4) + wd * np.where(adam, 40, 150)
    overfit = 0.10 * capacity * np.log10(epochs / 10 + 1) * np.exp(-3.0 * regular)  # width x epochs x dropout
    underfit = 0.05 * dropout * (1 - capacity) + 0.04 * (dropout > 0.3) * (epochs < 50)  # dropout slows training
    wd_help = np.where(adam, -0.01, 0.03) * (wd > 0) * (epochs >= 30)
    quality = 0.55 * capacity + 0.35 * training - lr_penalty - overfit - underfit + wd_help
    for e, f in itertools.combinations(range(len(MIXED_DECISIONS)), 2):  # small random pairwise terms
        if rng.random() < 0.3:
            table = 0.015 * rng.standard_normal((len(MIXED_DECISIONS[e][1]), len(MIXED_DECISIONS[f][1])))
            quality += table[settings[:, e], settings[:, f]]
    ok = ~diverged
    low, high = np.quantile(quality[ok], 0.01), quality[ok].max()
    unit = np.clip((quality - low) / (high - low), 0, 1)
    return np.where(ok, 0.30 + 0.65 * (1 - (1 - unit) ** 2), 0.10)


def mixed_tables(seed: int) -> dict:
    """Everything quality_problems.Problem needs for ``mixed-<seed>``."""
    sizes = [len(choices) for _, choices in MIXED_DECISIONS]
    settings = grid(sizes)
    true = mixed_accuracy(settings, seed)
    # parameters of a plain CNN (millions), linearised per decision so that the cost is additive
    params = [[0.0, 0.6, 1.2], [0.0, 0.3, 1.0, 1.9], [0.0, 0.5, 1.2]] + [[0.0] * len(c) for _, c in MIXED_DECISIONS[3:]]
    hours = [[0.0, 0.4, 0.8], [0.0, 0.2, 0.6, 1.2], [0.0, 0.3, 0.7], [0.0] * 6, [0.9, 0.3, 0.1, 0.0], [0.0] * 3,
             [0.0, 0.6, 2.0, 4.5], [0.0] * 3, [0.0, 0.1]]
    costs = {"params_m": CostTable("params_m", 0.3, params), "gpu_hours": CostTable("gpu_hours", 0.2, hours)}
    names = [[str(c) for c in choices] for _, choices in MIXED_DECISIONS]
    return {"sizes": sizes, "true": true, "observations": true[:, None], "distinct": None, "costs": costs,
            "candidate_names": names}
