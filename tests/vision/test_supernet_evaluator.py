import torch
import torch.nn as nn

from ddp_vision.supernet_evaluator import SupernetEvaluator, SupernetTrainingConfig


class TinySupernet(nn.Module):
    """Two decisions of two candidate blocks each, with BatchNorm so eval/train mode matters."""

    def __init__(self, in_channels=3, num_classes=4):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([
                nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
                nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.ReLU()),
            ])
            for _ in range(2)
        )
        self.head = nn.Linear(8, num_classes)

    def forward(self, x, architecture):
        x = self.stem(x)
        for choices, k in zip(self.blocks, architecture, strict=True):
            x = choices[k](x)
        return self.head(x.mean(dim=(2, 3)))


def make(splits, **overrides):
    torch.manual_seed(0)
    config = SupernetTrainingConfig(batch_size=8, eval_batch_size=16, steps_per_unit=3, total_units=6, **overrides)
    return SupernetEvaluator(TinySupernet(), splits, config)


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


def test_missing_checkpoint_and_missing_val_are_clear_errors(tiny_splits, tmp_path):
    import dataclasses

    import pytest

    with pytest.raises(FileNotFoundError, match="supernet checkpoint"):
        make(tiny_splits).load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="val_fraction"):
        make(dataclasses.replace(tiny_splits, val=None))
