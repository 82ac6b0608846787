"""ddp_bert: DDPNAS BERT compression with HuggingFace transformers, datasets, evaluate and accelerate.

Importing this package registers the compressed model type (``model_type "ddp_compressed_bert"``) with
transformers' ``AutoConfig``, ``AutoModel`` and ``AutoModelForSequenceClassification``.
"""

from ddp_bert.compressed import (
    CompressedBertConfig,
    CompressedBertForSequenceClassification,
    CompressedBertModel,
    register_auto_classes,
)
from ddp_bert.costs import parameter_cost_table, subnetwork_parameters
from ddp_bert.elastic import ElasticBertForSequenceClassification
from ddp_bert.export import extract_subnetwork, save_compressed
from ddp_bert.glue import GLUE_TASKS, GlueTask, glue_task, load_glue
from ddp_bert.importance import reorder_by_importance
from ddp_bert.space import (
    SubnetworkShape,
    TeacherShape,
    build_search_space,
    decode_architecture,
    encode_subnetwork,
)

register_auto_classes()

__version__ = "0.1.0"

__all__ = [
    "GLUE_TASKS",
    "CompressedBertConfig",
    "CompressedBertForSequenceClassification",
    "CompressedBertModel",
    "ElasticBertForSequenceClassification",
    "GlueTask",
    "SubnetworkShape",
    "TeacherShape",
    "build_search_space",
    "decode_architecture",
    "encode_subnetwork",
    "extract_subnetwork",
    "glue_task",
    "load_glue",
    "parameter_cost_table",
    "register_auto_classes",
    "reorder_by_importance",
    "save_compressed",
    "subnetwork_parameters",
]
