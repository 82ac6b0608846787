"""DDPNAS on the DARTS cell space: ops, search supernet, derivation and ENG, evaluation networks, tools.

Main entry points: :func:`ddp_vision.darts.search.main` (behind ``tools/search_darts.py``),
:func:`ddp_vision.darts.generate.cli` (behind ``tools/generate.py RUN_DIR``) and
:func:`ddp_vision.darts.training.main` (behind ``tools/train_darts.py``).
"""

from ddp_vision.darts.genotypes import PUBLISHED_GENOTYPES, Genotype, format_genotype, parse_genotype
from ddp_vision.darts.operations import PRIMITIVES
from ddp_vision.darts.space import DartsSupernetConfig, build_search_space

__all__ = [
    "PRIMITIVES",
    "PUBLISHED_GENOTYPES",
    "DartsSupernetConfig",
    "Genotype",
    "build_search_space",
    "format_genotype",
    "parse_genotype",
]
