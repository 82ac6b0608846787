"""The BERT compression search space, derived from a teacher's configuration.

The paper (Sec. 4.4.1) searches, inside a 12-layer BERT-base with 12 heads and a 3072-wide FFN, the depth
{6, 8, 10, 12} and, per layer, the FFN width {512, 768, 1024, 3072} and the number of heads {4, 8, 12}.
For other teachers the same fractions of the teacher's sizes are used (a 6-layer, 1536-wide MiniLM gets
depths {3, 4, 5, 6} and widths {256, 384, 512, 1536}); every choice can also be given explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ddp_core import Candidate, Decision, Requires, SearchSpace

# The paper's choices for BERT-base, as fractions of the teacher's sizes.
PAPER_DEPTH_FRACTIONS: tuple[float, ...] = (6 / 12, 8 / 12, 10 / 12, 1.0)
PAPER_FFN_FRACTIONS: tuple[float, ...] = (512 / 3072, 768 / 3072, 1024 / 3072, 1.0)
PAPER_HEAD_FRACTIONS: tuple[float, ...] = (4 / 12, 8 / 12, 1.0)

SPACE_KIND = "bert"
GENERATOR = "ddp_bert.generate:cli"
# Live candidates every decision keeps when pruning stops (``--min-live``); ENG then chooses inside them.
# Measured on a MiniLM search (BENCHMARKS.md, ddp-bert): see packages/ddp-bert/README.md.
DEFAULT_MIN_LIVE = 2


@dataclass(frozen=True)
class TeacherShape:
    """The sizes of a BERT teacher that the search space and the cost tables depend on.

    Parameters
    ----------
    num_layers, hidden_size, num_heads, intermediate_size, vocab_size, max_position_embeddings,
    type_vocab_size
        Copied from the teacher's ``BertConfig``.
    """

    num_layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int

    @property
    def head_size(self) -> int:
        """Width of one attention head (``hidden_size / num_heads``)."""
        return self.hidden_size // self.num_heads

    @classmethod
    def from_config(cls, config) -> TeacherShape:
        """Read the shape from a ``transformers.BertConfig`` (or any config with the same fields)."""
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(
                f"hidden_size {config.hidden_size} is not a multiple of num_attention_heads "
                f"{config.num_attention_heads}; ddp-bert needs equal-width heads"
            )
        return cls(
            num_layers=int(config.num_hidden_layers),
            hidden_size=int(config.hidden_size),
            num_heads=int(config.num_attention_heads),
            intermediate_size=int(config.intermediate_size),
            vocab_size=int(config.vocab_size),
            max_position_embeddings=int(config.max_position_embeddings),
            type_vocab_size=int(config.type_vocab_size),
        )

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form (stored in the space's metadata)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> TeacherShape:
        """Inverse of :meth:`to_dict`."""
        return cls(**{key: int(data[key]) for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SubnetworkShape:
    """One sub-network of the elastic BERT: its depth and, per kept layer, heads and FFN width."""

    depth: int
    num_heads: tuple[int, ...]
    intermediate_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.num_heads) != self.depth or len(self.intermediate_sizes) != self.depth:
            raise ValueError(
                f"a depth-{self.depth} sub-network needs {self.depth} head counts and FFN widths, got "
                f"{len(self.num_heads)} and {len(self.intermediate_sizes)}"
            )

    @classmethod
    def full(cls, teacher: TeacherShape) -> SubnetworkShape:
        """The whole teacher."""
        return cls(
            teacher.num_layers,
            (teacher.num_heads,) * teacher.num_layers,
            (teacher.intermediate_size,) * teacher.num_layers,
        )

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"depth": self.depth, "num_heads": list(self.num_heads),
                "intermediate_sizes": list(self.intermediate_sizes)}


def proportional_choices(total: int, fractions: Sequence[float], minimum: int = 1) -> tuple[int, ...]:
    """Scale the paper's fractional choices to a teacher size: sorted, distinct, at least ``minimum``."""
    return tuple(sorted({max(minimum, round(total * fraction)) for fraction in fractions}))


def _check_choices(name: str, choices: Sequence[int], maximum: int, flag: str) -> tuple[int, ...]:
    values = tuple(sorted({int(choice) for choice in choices}))
    if not values:
        raise ValueError(f"no {name} choices given; pass at least one with {flag}")
    if values[0] < 1 or values[-1] > maximum:
        raise ValueError(
            f"{name} choices {list(values)} must lie in [1, {maximum}] (the teacher's size); fix {flag}"
        )
    return values


def layer_decision_names(layer: int) -> tuple[str, str]:
    """Names of the FFN-width and head-count decisions of a (0-based) layer."""
    return f"layer{layer}.ffn", f"layer{layer}.heads"


def build_search_space(
    teacher: TeacherShape,
    depths: Sequence[int] | None = None,
    ffn_widths: Sequence[int] | None = None,
    head_counts: Sequence[int] | None = None,
    extra_metadata: dict | None = None,
    min_live: int = DEFAULT_MIN_LIVE,
) -> SearchSpace:
    """Build the ddp-core space: a ``depth`` decision and per-layer ``layerN.ffn`` / ``layerN.heads``.

    Parameters
    ----------
    teacher
        Sizes of the pretrained model the sub-networks are cut from.
    depths, ffn_widths, head_counts
        Explicit choices; ``None`` scales the paper's BERT-base choices to the teacher.
    extra_metadata
        Merged into the space metadata (e.g. the teacher's name or path and the task).
    min_live
        Pruning stops when every decision has this many live candidates (fewer where a decision has fewer),
        so ENG under a budget still chooses among searched candidates instead of pruned ones.

    Returns
    -------
    SearchSpace
        Layer ``N``'s decisions require ``depth`` to be one of the depths that keep layer ``N``, so layers
        beyond a sampled depth are inactive and are not credited with its score.
    """
    depths = _check_choices(
        "depth", depths or proportional_choices(teacher.num_layers, PAPER_DEPTH_FRACTIONS),
        teacher.num_layers, "--depths")
    ffn_widths = _check_choices(
        "FFN width", ffn_widths or proportional_choices(teacher.intermediate_size, PAPER_FFN_FRACTIONS),
        teacher.intermediate_size, "--ffn-widths")
    head_counts = _check_choices(
        "head count", head_counts or proportional_choices(teacher.num_heads, PAPER_HEAD_FRACTIONS),
        teacher.num_heads, "--heads")
    decisions = [Decision("depth", [Candidate(str(depth)) for depth in depths])]
    for layer in range(max(depths)):
        keeping = tuple(str(depth) for depth in depths if depth > layer)
        requires = None if len(keeping) == len(depths) else Requires("depth", keeping)
        ffn_name, heads_name = layer_decision_names(layer)
        decisions.append(Decision(ffn_name, [Candidate(str(w)) for w in ffn_widths], requires=requires))
        decisions.append(Decision(heads_name, [Candidate(str(h)) for h in head_counts], requires=requires))
    metadata = {"kind": SPACE_KIND, "generator": GENERATOR, "teacher_shape": teacher.to_dict()}
    metadata.update(extra_metadata or {})
    return SearchSpace(decisions, metadata=metadata, min_live=min_live)


def decode_architecture(space: SearchSpace, architecture: Sequence[int]) -> SubnetworkShape:
    """Turn a ddp-core architecture (one candidate index per decision) into layer sizes."""
    names = [decision.name for decision in space.decisions]
    if len(architecture) != len(names):
        raise ValueError(f"architecture has {len(architecture)} entries, the space {len(names)} decisions")
    index = {name: position for position, name in enumerate(names)}

    def value(name: str) -> int:
        decision = space.decisions[index[name]]
        return int(decision.candidates[int(architecture[index[name]])].name)

    depth = value("depth")
    heads = tuple(value(layer_decision_names(layer)[1]) for layer in range(depth))
    widths = tuple(value(layer_decision_names(layer)[0]) for layer in range(depth))
    return SubnetworkShape(depth, heads, widths)


def encode_subnetwork(space: SearchSpace, shape: SubnetworkShape) -> tuple[int, ...]:
    """Inverse of :func:`decode_architecture`; inactive layers take their first candidate."""
    wanted = {"depth": shape.depth}
    for layer in range(shape.depth):
        ffn_name, heads_name = layer_decision_names(layer)
        wanted[ffn_name] = shape.intermediate_sizes[layer]
        wanted[heads_name] = shape.num_heads[layer]
    architecture = []
    for decision in space.decisions:
        names = [candidate.name for candidate in decision.candidates]
        if decision.name not in wanted:
            architecture.append(0)
            continue
        label = str(wanted[decision.name])
        if label not in names:
            raise ValueError(f"{decision.name}={label} is not a choice of this space ({names})")
        architecture.append(names.index(label))
    return tuple(architecture)


def teacher_shape_of(space: SearchSpace) -> TeacherShape:
    """The teacher shape stored in a BERT space's metadata."""
    if space.metadata.get("kind") != SPACE_KIND:
        raise ValueError(f"not a BERT space: metadata kind is {space.metadata.get('kind')!r}")
    return TeacherShape.from_dict(space.metadata["teacher_shape"])
