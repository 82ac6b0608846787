"""Exact parameter counts of BERT sub-networks: the one place ddp-bert computes them.

Every parameter of a sequence-classification BERT falls into one of three groups:

* fixed: embeddings (word, position, token type, LayerNorm), pooler and classifier;
* per layer, attention: query/key/value rows and output-projection columns of the kept heads, plus the
  output bias and LayerNorm (charged to the ``heads`` decision, active exactly when the layer is);
* per layer, FFN: the kept intermediate neurons of both FFN Linear layers, plus the output bias and
  LayerNorm (charged to the ``ffn`` decision).

So the count is additive over decisions and ENG can solve it exactly as a ddp-core ``CostTable``.
"""

from __future__ import annotations

from ddp_bert.space import SubnetworkShape, TeacherShape, teacher_shape_of
from ddp_core import CostTable, SearchSpace

PARAMS_COST_NAME = "params_m"


def fixed_parameters(teacher: TeacherShape, num_labels: int, with_pooler: bool = True) -> int:
    """Parameters of the embeddings, pooler and a ``num_labels``-way classifier."""
    hidden = teacher.hidden_size
    embeddings = (teacher.vocab_size + teacher.max_position_embeddings + teacher.type_vocab_size) * hidden
    embeddings += 2 * hidden  # LayerNorm
    pooler = hidden * hidden + hidden if with_pooler else 0
    classifier = hidden * num_labels + num_labels
    return embeddings + pooler + classifier


def attention_parameters(teacher: TeacherShape, num_heads: int) -> int:
    """Parameters of one self-attention block keeping ``num_heads`` heads."""
    hidden = teacher.hidden_size
    kept = num_heads * teacher.head_size
    query_key_value = 3 * (hidden * kept + kept)
    output = kept * hidden + hidden
    return query_key_value + output + 2 * hidden


def feed_forward_parameters(teacher: TeacherShape, intermediate_size: int) -> int:
    """Parameters of one FFN block keeping ``intermediate_size`` neurons."""
    hidden = teacher.hidden_size
    return (hidden * intermediate_size + intermediate_size) + (intermediate_size * hidden + hidden) + 2 * hidden


def subnetwork_parameters(teacher: TeacherShape, shape: SubnetworkShape, num_labels: int) -> int:
    """Exact parameter count of a sequence-classification sub-network."""
    total = fixed_parameters(teacher, num_labels)
    for heads, width in zip(shape.num_heads, shape.intermediate_sizes, strict=True):
        total += attention_parameters(teacher, heads) + feed_forward_parameters(teacher, width)
    return total


def parameter_cost_table(space: SearchSpace, num_labels: int) -> CostTable:
    """The ``params_m`` cost table of a BERT space (millions of parameters).

    Parameters
    ----------
    space
        A space from :func:`ddp_bert.space.build_search_space`.
    num_labels
        Classifier outputs (1 for STS-B regression, 3 for MNLI, 2 otherwise).
    """
    teacher = teacher_shape_of(space)
    per_candidate = []
    for decision in space.decisions:
        if decision.name == "depth":
            row = [0.0 for _ in decision.candidates]
        elif decision.name.endswith(".heads"):
            row = [attention_parameters(teacher, int(c.name)) / 1e6 for c in decision.candidates]
        elif decision.name.endswith(".ffn"):
            row = [feed_forward_parameters(teacher, int(c.name)) / 1e6 for c in decision.candidates]
        else:
            raise ValueError(f"unknown decision {decision.name!r} in a BERT space")
        per_candidate.append(row)
    return CostTable(PARAMS_COST_NAME, fixed_parameters(teacher, num_labels) / 1e6, per_candidate)
