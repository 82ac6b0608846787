"""DARTS genotypes: the ``Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)`` format.

A cell's genotype lists two ``(op, input)`` pairs per intermediate node: inputs 0 and 1 are the outputs of
the two previous cells, input ``j >= 2`` is intermediate node ``j - 2``. The published genotypes below are
facts from their papers (DARTS: Liu et al., 2019; P-DARTS: Chen et al., 2019; PC-DARTS: Xu et al., 2020).
"""

from __future__ import annotations

import ast
import json
from collections import namedtuple
from collections.abc import Sequence

from ddp_vision.darts.operations import PRIMITIVES

__all__ = [
    "Genotype",
    "PUBLISHED_GENOTYPES",
    "parse_genotype",
    "format_genotype",
    "genotype_to_dict",
    "genotype_from_dict",
    "validate_genotype",
]

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

_CONCAT = [2, 3, 4, 5]

DARTS_V1 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=_CONCAT,
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=_CONCAT,
)
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=_CONCAT,
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=_CONCAT,
)
PC_DARTS = Genotype(
    normal=[("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
            ("sep_conv_5x5", 0), ("sep_conv_3x3", 1), ("avg_pool_3x3", 0), ("dil_conv_3x3", 1)],
    normal_concat=_CONCAT,
    reduce=[("sep_conv_5x5", 1), ("max_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 3), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2)],
    reduce_concat=_CONCAT,
)
PDARTS = Genotype(
    normal=[("skip_connect", 0), ("dil_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 3), ("sep_conv_3x3", 0), ("dil_conv_5x5", 4)],
    normal_concat=_CONCAT,
    reduce=[("avg_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
            ("max_pool_3x3", 0), ("dil_conv_3x3", 1), ("dil_conv_3x3", 1), ("dil_conv_5x5", 3)],
    reduce_concat=_CONCAT,
)

PUBLISHED_GENOTYPES: dict[str, Genotype] = {
    "DARTS_V1": DARTS_V1, "DARTS_V2": DARTS_V2, "PC_DARTS": PC_DARTS, "PDARTS": PDARTS,
}


def validate_genotype(genotype: Genotype) -> Genotype:
    """Check ops and inputs of both cells; return the genotype with plain lists (``range`` expanded)."""
    cells = {}
    for cell in ("normal", "reduce"):
        pairs = [(str(op), int(j)) for op, j in getattr(genotype, cell)]
        if len(pairs) % 2 or not pairs:
            raise ValueError(f"{cell} cell needs two (op, input) pairs per node, got {len(pairs)} pairs")
        for position, (op, j) in enumerate(pairs):
            node = position // 2
            if op not in PRIMITIVES or op == "none":
                raise ValueError(
                    f"{cell} cell node {node}: op {op!r} is not a DARTS op of an evaluation cell; use one of "
                    f"{', '.join(p for p in PRIMITIVES if p != 'none')}"
                )
            if not 0 <= j < node + 2:
                raise ValueError(f"{cell} cell node {node}: input {j} must be in [0, {node + 1}]")
        concat = [int(c) for c in getattr(genotype, f"{cell}_concat")]
        if not concat or any(not 2 <= c < len(pairs) // 2 + 2 for c in concat):
            raise ValueError(f"{cell}_concat {concat} must name intermediate nodes 2..{len(pairs) // 2 + 1}")
        cells[cell], cells[f"{cell}_concat"] = pairs, concat
    return Genotype(**cells)


def _literal(node: ast.AST):
    """Evaluate literals plus ``range(a, b)`` calls (never arbitrary code)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        return list(range(*[_literal(a) for a in node.args]))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    return ast.literal_eval(node)


def parse_genotype(text: str) -> Genotype:
    """A genotype from a published name (``DARTS_V2``), ``Genotype(...)`` text, or JSON (:func:`genotype_to_dict`).

    Raises
    ------
    ValueError
        When the text is none of these, naming the accepted forms.
    """
    stripped = text.strip()
    if stripped in PUBLISHED_GENOTYPES:
        return PUBLISHED_GENOTYPES[stripped]
    if stripped.startswith("{"):
        return genotype_from_dict(json.loads(stripped))
    try:
        tree = ast.parse(stripped, mode="eval").body
    except SyntaxError as error:
        raise ValueError(f"cannot parse genotype text ({error.msg})") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise ValueError(
            "a genotype is a published name (" + ", ".join(PUBLISHED_GENOTYPES)
            + "), 'Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])' or its JSON"
        )
    fields = {kw.arg: _literal(kw.value) for kw in tree.keywords}
    missing = set(Genotype._fields) - set(fields)
    if missing or tree.args:
        raise ValueError(f"Genotype(...) needs exactly the keyword fields {Genotype._fields}; missing {sorted(missing)}")
    return validate_genotype(Genotype(**fields))


def format_genotype(genotype: Genotype) -> str:
    """The DARTS text form, readable back by :func:`parse_genotype`."""
    genotype = validate_genotype(genotype)
    return (
        f"Genotype(normal={genotype.normal!r}, normal_concat={genotype.normal_concat!r}, "
        f"reduce={genotype.reduce!r}, reduce_concat={genotype.reduce_concat!r})"
    )


def genotype_to_dict(genotype: Genotype) -> dict:
    """JSON form: ``{"normal": [[op, input], ...], "normal_concat": [...], ...}``."""
    genotype = validate_genotype(genotype)
    return {
        "normal": [[op, j] for op, j in genotype.normal], "normal_concat": list(genotype.normal_concat),
        "reduce": [[op, j] for op, j in genotype.reduce], "reduce_concat": list(genotype.reduce_concat),
    }


def genotype_from_dict(data: dict) -> Genotype:
    """Inverse of :func:`genotype_to_dict`; wrong shapes or types are a ValueError naming the expected form."""
    form = ('{"normal": [[op, input], ...], "normal_concat": [2, 3, ...], "reduce": [...], "reduce_concat": [...]}, '
            "as tools/generate.py writes it")
    if not isinstance(data, dict):
        raise ValueError(f"genotype JSON must be an object {form}; got a {type(data).__name__}")
    missing = set(Genotype._fields) - set(data)
    if missing:
        raise ValueError(f"genotype JSON lacks {sorted(missing)}")
    try:
        pairs = {cell: [tuple(p) for p in data[cell]] for cell in ("normal", "reduce")}
        if any(len(p) != 2 or not isinstance(p[0], str) or isinstance(p[1], bool) or not isinstance(p[1], int)
               for cell in pairs.values() for p in cell):
            raise TypeError("each pair is [op name, input index]")
        concat = {f"{cell}_concat": list(data[f"{cell}_concat"]) for cell in ("normal", "reduce")}
        if any(isinstance(c, bool) or not isinstance(c, int) for value in concat.values() for c in value):
            raise TypeError("concat lists hold node numbers")
    except TypeError as error:
        raise ValueError(f"genotype JSON has wrong types ({error}): expected {form}") from None
    return validate_genotype(Genotype(**pairs, **concat))


def cell_edges(steps: int) -> Sequence[tuple[int, int]]:
    """``(node, input)`` of every edge of a cell with ``steps`` intermediate nodes, in decision order."""
    return [(node, j) for node in range(steps) for j in range(node + 2)]
