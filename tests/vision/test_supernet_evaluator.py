import os
import random

import numpy as np
import pytest
import torch
import torch.nn as nn

from ddp_vision.checkpoints import CheckpointError, load_state
from ddp_vision.supernet_evaluator import SupernetEvaluator, SupernetTrainingConfig, TrainingDiverged


class TinySupernet(nn.Module):
    """Decisions of 2 (or 3) candidate blocks (3x3, 1x1, 5x5 convolutions), with BatchNorm so eval/train mode
    matters."""

    def __init__(self, in_channels=3, num_classes=4, decisions=2, candidates=2):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([
                nn.Sequential(nn.Conv2d(8, 8, kernel, padding=kernel // 2), nn.BatchNorm2d(8), nn.ReLU())
                for kernel in (3, 1, 5)[:candidates]
            ])
            for _ in range(decisions)
        )
        self.head = nn.Linear(8, num_classes)

    def forward(self, x, architecture):
        x = self.stem(x)
        for choices, k in zip(self.blocks, architecture, strict=True):
            x = choices[k](x)
        return self.head(x.mean(dim=(2, 3)))


def make(splits, supernet=None, **overrides):
    torch.manual_seed(0)
    settings = {"batch_size": 8, "eval_batch_size": 16, "steps_per_unit": 3, "total_units": 6, **overrides}
    config = SupernetTrainingConfig(**settings)
    return SupernetEvaluator(supernet or TinySupernet(), splits, config)


def test_train_updates_only_the_sampled_path(tiny_splits):
    evaluator = make(tiny_splits)
    model = evaluator.accelerator.unwrap_model(evaluator.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    evaluator.train((0, 1))
    after = model.state_dict()
    assert not torch.equal(before["blocks.0.0.0.weight"], after["blocks.0.0.0.weight"])
    assert not torch.equal(before["blocks.1.1.0.weight"], after["blocks.1.1.0.weight"])
    assert torch.equal(before["blocks.0.1.0.weight"], after["blocks.0.1.0.weight"])  # not sampled
    assert evaluator.units_trained == 1 and evaluator.scheduler.get_last_lr()[0] < 0.025


def test_score_is_accuracy_in_eval_mode_and_leaves_batchnorm_alone(tiny_splits):
    evaluator = make(tiny_splits)
    for _ in range(4):
        evaluator.train((0, 0))
    model = evaluator.accelerator.unwrap_model(evaluator.model)
    running = model.blocks[0][0][1].running_mean.clone()
    first = evaluator.score((0, 0))
    assert 0.0 <= first <= 1.0
    assert torch.equal(running, model.blocks[0][0][1].running_mean)
    assert evaluator.score((0, 0)) == first
    assert not model.training
    # the reported score is the accuracy of an eval-mode forward over the held-out part
    model.eval()
    with torch.no_grad():
        x = (tiny_splits.val.images - 0.5) / 0.3
        expected = (model(x, (0, 0)).argmax(1) == tiny_splits.val.labels).float().mean().item()
    assert abs(first - expected) < 1e-6


def test_training_learns_the_synthetic_task(tiny_splits):
    evaluator = make(tiny_splits, learning_rate=0.1)
    for _ in range(6):
        evaluator.train((0, 0))
    assert evaluator.score((0, 0)) >= 0.5  # chance is 0.25


def test_checkpoint_round_trip_continues_exactly(tiny_splits, tmp_path):
    evaluator = make(tiny_splits)
    evaluator.train((0, 1))
    evaluator.save_checkpoint(tmp_path)
    evaluator.train((1, 0))
    evaluator.train((0, 0))
    reference = evaluator.accelerator.unwrap_model(evaluator.model).state_dict()

    resumed = make(tiny_splits)
    resumed.load_checkpoint(tmp_path)
    assert resumed.units_trained == 1
    resumed.train((1, 0))
    resumed.train((0, 0))
    for name, tensor in resumed.accelerator.unwrap_model(resumed.model).state_dict().items():
        assert torch.equal(tensor, reference[name]), name


def test_checkpoint_files_and_rng_states_round_trip(tiny_splits, tmp_path):
    evaluator = make(tiny_splits)
    evaluator.train((0, 1))
    evaluator.score((0, 1))  # the RNG states are taken here, right before ddp-core saves
    evaluator.save_checkpoint(tmp_path)
    expected = (torch.rand(3), random.random(), np.random.rand())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "rng-rank0.json", "rng-rank0.safetensors", "supernet.safetensors", "trainer_state.json",
        "trainer_state.safetensors"]
    torch.manual_seed(123)  # scramble every generator, then resume
    random.seed(123)
    np.random.seed(123)
    make(tiny_splits).load_checkpoint(tmp_path)
    got = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]


def test_missing_checkpoint_and_missing_val_are_clear_errors(tiny_splits, tmp_path):
    import dataclasses

    with pytest.raises(CheckpointError, match=r"supernet\.safetensors is missing"):
        make(tiny_splits).load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="val_fraction"):
        make(dataclasses.replace(tiny_splits, val=None))


class RunsCode:
    """A pickle payload: unpickling it would create ``marker`` (it must never run)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickles_in_a_checkpoint_never_run(tiny_splits, tmp_path):
    evaluator = make(tiny_splits)
    evaluator.save_checkpoint(tmp_path)
    marker = tmp_path / "pwned"
    for name in ("supernet.safetensors", "trainer_state.safetensors", "rng-rank0.safetensors"):
        good = (tmp_path / name).read_bytes()
        torch.save({"x": RunsCode(marker)}, tmp_path / name)  # a pickle where the loader expects safetensors
        with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
            make(tiny_splits).load_checkpoint(tmp_path)
        (tmp_path / name).write_bytes(good)
    # the weights-only loader of training checkpoints refuses the same payload with one clear error
    torch.save({"x": RunsCode(marker)}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="not loaded"):
        load_state(tmp_path / "checkpoint.pt")
    assert not marker.exists()
    make(tiny_splits).load_checkpoint(tmp_path)  # the restored files still load


def test_a_diverging_supernet_stops_instead_of_scoring_chance(tiny_splits):
    evaluator = make(tiny_splits, learning_rate=1e30, grad_clip_norm=0.0)
    with pytest.raises(TrainingDiverged, match="learning-rate"):
        for _ in range(5):
            evaluator.train((0, 1))
            evaluator.score((0, 1))


def test_non_finite_logits_are_refused_when_scoring(tiny_splits):
    evaluator = make(tiny_splits)
    model = evaluator.accelerator.unwrap_model(evaluator.model)
    with torch.no_grad():
        model.head.bias.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="non-finite logits"):
        evaluator.score((0, 0))


def test_a_search_saving_every_third_step_resumes_exactly_after_a_crash(tiny_splits, tmp_path):
    from ddp_core import DDPSearch, Decision, SearchConfig, SearchSpace

    space = SearchSpace([Decision(f"block{e}", ["conv3", "conv1", "conv5"]) for e in range(3)])
    config = SearchConfig(rounds_per_stage=2, checkpoint_every=3)

    def search(run_dir):
        torch.manual_seed(0)  # the same initial supernet for every search, as the tools do
        evaluator = make(tiny_splits, TinySupernet(decisions=3, candidates=3), total_units=10)
        return DDPSearch(space, evaluator, config, run_dir=run_dir)

    straight = search(tmp_path / "straight").run()
    crashed = search(tmp_path / "crashed")
    for _ in range(5):  # saved after step 3 (checkpoint_every) and at the stage end (step 6 is not reached)
        crashed.step()
    crashed.close()  # abandoned without saving, as a killed process would be
    torch.rand(100)  # the process's generators move on (the checkpoint restores them)
    resumed = search(tmp_path / "crashed")
    assert resumed.steps == 3
    result = resumed.run()
    assert np.array_equal(result.distribution.theta, straight.distribution.theta)
    assert [(r.architecture, r.score) for r in result.record.records] == \
        [(r.architecture, r.score) for r in straight.record.records]
