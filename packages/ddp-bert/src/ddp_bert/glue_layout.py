"""Write GLUE-shaped datasets in the hub layout, and make small synthetic ones for smoke tests.

The layout is the one of the ``nyu-mll/glue`` hub repository, so ``load_dataset(directory, task)`` reads it
with the same call shape as the hub::

    README.md                           # YAML front matter: configs -> data_files per split
    rte/train-00000-of-00001.parquet
    rte/validation-00000-of-00001.parquet
    rte/test-00000-of-00001.parquet

Command line: ``python -m ddp_bert.glue_layout OUT_DIR --task rte --train 200`` writes a synthetic task whose
labels follow a simple word-overlap rule (learnable, so a smoke test can see a metric move).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset

from ddp_bert.glue import GlueTask, glue_task
from ddp_core.cli import OneLineArgumentParser

WORDS = (
    "the cat dog bird house river tree stone city road car train book letter music song light night day "
    "morning garden window door table chair paper water fire cloud rain snow sun moon star field hill"
).split()
POSITIVE_WORDS = ("good", "great", "lovely", "happy", "bright")
NEGATIVE_WORDS = ("bad", "awful", "sad", "dull", "poor")


def _parquet_name(task: str, split: str) -> str:
    return f"{task}/{split}-00000-of-00001.parquet"


def write_readme(directory: Path) -> None:
    """(Re)write README.md listing every ``<task>/<split>-*.parquet`` under ``directory``."""
    lines = ["---", "configs:"]
    for task_dir in sorted(path for path in directory.iterdir() if path.is_dir()):
        files = sorted(task_dir.glob("*-00000-of-00001.parquet"))
        if not files:
            continue
        lines += [f"- config_name: {task_dir.name}", "  data_files:"]
        for file in files:
            split = file.name.split("-00000-of-00001")[0]
            lines += [f"  - split: {split}", f"    path: {task_dir.name}/{file.name}"]
    lines += ["---", "", "GLUE-layout data written by ddp_bert.glue_layout.", ""]
    temporary = directory / "README.md.tmp"
    temporary.write_text("\n".join(lines))
    os.replace(temporary, directory / "README.md")


def write_glue_task(directory: str | os.PathLike, task: str, splits: dict[str, Sequence[dict]]) -> Path:
    """Write one task's splits as parquet files in the hub layout and refresh the README.

    Parameters
    ----------
    directory
        The dataset root (created if needed); other tasks already there are kept.
    task
        GLUE task name, e.g. ``"rte"``.
    splits
        ``{"train": [{"sentence1": ..., "sentence2": ..., "label": 0, "idx": 0}, ...], ...}``.
    """
    root = Path(directory)
    (root / task).mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        if not rows:
            raise ValueError(f"split {split!r} of {task} has no rows")
        target = root / _parquet_name(task, split)
        temporary = target.with_suffix(".parquet.tmp")
        Dataset.from_list(list(rows)).to_parquet(str(temporary))
        os.replace(temporary, target)
    write_readme(root)
    return root


def _sentence(rng: random.Random, length: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(length)]


def synthetic_example(task: GlueTask, rng: random.Random, index: int, labelled: bool = True) -> dict:
    """One synthetic example whose label follows a word rule (sentiment words, or word overlap)."""
    row: dict = {"idx": index}
    if len(task.text_keys) == 1:
        polarity = rng.randrange(2)
        words = _sentence(rng, rng.randint(4, 9))
        words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE_WORDS if polarity else NEGATIVE_WORDS))
        row[task.text_keys[0]] = " ".join(words)
        label: float = polarity
    else:
        first = _sentence(rng, rng.randint(5, 10))
        classes = 3 if task.num_labels == 3 else 2
        target = rng.randrange(classes)
        if task.is_regression:
            target = rng.randrange(6)
            borrowed = min(len(first), target)
            second = rng.sample(first, borrowed) + [rng.choice(POSITIVE_WORDS) for _ in range(5 - borrowed)]
            label = float(target)
        elif target == 0:  # entailment-like: the second sentence reuses words of the first
            second = rng.sample(first, min(4, len(first)))
            label = 0
        elif target == 1 and classes == 3:
            second = rng.sample(first, 2) + [rng.choice(POSITIVE_WORDS) for _ in range(2)]
            label = 1
        else:
            second = [rng.choice(NEGATIVE_WORDS) for _ in range(4)]
            label = target
        row[task.text_keys[0]] = " ".join(first)
        row[task.text_keys[1]] = " ".join(second)
    row["label"] = label if labelled else (-1.0 if task.is_regression else -1)
    return row


def write_synthetic_task(
    directory: str | os.PathLike, task: str, train: int = 200, validation: int = 60, test: int = 20, seed: int = 0
) -> Path:
    """Write a synthetic task in the hub layout (``validation_matched``/``_mismatched`` for MNLI)."""
    spec = glue_task(task)
    rng = random.Random(seed)
    counts = {"train": train, "test": test}
    if spec.name == "mnli":
        counts.update(validation_matched=validation, validation_mismatched=validation)
    else:
        counts["validation"] = validation
    splits = {
        split: [synthetic_example(spec, rng, index, labelled=split != "test") for index in range(count)]
        for split, count in counts.items()
    }
    return write_glue_task(directory, spec.name, splits)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ddp_bert.glue_layout OUT_DIR --task rte``: write a synthetic GLUE-layout task."""
    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--task", default="rte", help="GLUE task name (default rte)")
    parser.add_argument("--train", type=int, default=200, help="training examples")
    parser.add_argument("--validation", type=int, default=60, help="dev examples")
    parser.add_argument("--test", type=int, default=20, help="unlabelled test examples")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = write_synthetic_task(args.out_dir, args.task, args.train, args.validation, args.test, args.seed)
    print(f"wrote synthetic {args.task} to {root}; load it with load_dataset({str(root)!r}, {args.task!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
