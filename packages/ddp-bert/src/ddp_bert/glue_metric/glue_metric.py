"""GLUE's official metrics as a local ``evaluate`` module, so ``evaluate.load`` works offline.

Load it by path: ``evaluate.load(ddp_bert.glue.GLUE_METRIC_PATH, "rte")``. The configurations and the values
follow the GLUE benchmark (and ``evaluate``'s hub "glue" metric): accuracy; accuracy and F1 for MRPC and QQP;
Matthews correlation for CoLA; Pearson and Spearman correlation for STS-B.
"""

import datasets
import evaluate
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

_DESCRIPTION = "GLUE metrics: accuracy, F1, Matthews correlation, Pearson and Spearman correlation."
_CITATION = """@inproceedings{wang2019glue,
  title={GLUE: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer and Bowman, Samuel R.},
  booktitle={ICLR}, year={2019}}"""
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted labels (class ids; floats for stsb).
    references: gold labels (class ids; floats for stsb).
Returns: a dict with "accuracy", "f1", "matthews_correlation", "pearson" and/or "spearmanr" by task.
"""

CONFIGURATIONS = (
    "sst2", "mnli", "mnli_mismatched", "mnli_matched", "cola", "stsb", "mrpc", "qqp", "qnli", "rte", "wnli", "ax",
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class GlueMetric(evaluate.Metric):
    """GLUE metric for one task (the configuration name)."""

    def _info(self):
        if self.config_name not in CONFIGURATIONS:
            raise KeyError(f"unknown GLUE task {self.config_name!r}; choose one of {list(CONFIGURATIONS)}")
        value_type = "float32" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value(value_type), "references": datasets.Value(value_type)}
            ),
            format="numpy",
        )

    def _compute(self, predictions, references):
        if self.config_name == "cola":
            return {"matthews_correlation": float(matthews_corrcoef(references, predictions))}
        if self.config_name == "stsb":
            return {
                "pearson": float(pearsonr(predictions, references)[0]),
                "spearmanr": float(spearmanr(predictions, references)[0]),
            }
        accuracy = float((predictions == references).mean())
        if self.config_name in ("mrpc", "qqp"):
            return {"accuracy": accuracy, "f1": float(f1_score(y_true=references, y_pred=predictions))}
        return {"accuracy": accuracy}
