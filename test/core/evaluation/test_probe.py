"""The linear probe: R^2 on known answers, and ``la-pose probe`` end to end at toy size."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from la_pose_core.evaluation.probe import ProbeSet, RidgeProbe, with_context
from la_pose_core.model.checkpoint import save_checkpoint
from la_pose_core.model.config import get_config
from la_pose_core.model.lapose import LAPosePretrainer
from test.core.training.helpers import la_pose


def linear_set(rng: np.random.Generator, pairs: int, mixing: np.ndarray, noise: float):
    latents = rng.normal(size=(pairs, mixing.shape[0]))
    return ProbeSet(latents, latents @ mixing + noise * rng.normal(size=(pairs, 3)))


def test_a_linear_readout_scores_near_one_and_noise_near_zero():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(8, 3))
    probe = RidgeProbe.fit(linear_set(rng, 400, mixing, 0.01), ridge=1e-6)
    scores = probe.r2(linear_set(rng, 200, mixing, 0.01))
    assert min(scores.values()) > 0.99
    unrelated = ProbeSet(rng.normal(size=(400, 8)), rng.normal(size=(400, 3)))
    other = ProbeSet(rng.normal(size=(200, 8)), rng.normal(size=(200, 3)))
    scores = RidgeProbe.fit(unrelated).r2(other)
    assert max(scores.values()) < 0.1


def test_context_reads_a_pair_with_its_neighbours_in_the_drive():
    """A motion that is the next pair's code: no reader of the pair alone or of its past
    finds it; one that sees a pair ahead does."""
    rng = np.random.default_rng(0)

    def drive(pairs: int) -> ProbeSet:
        latents = rng.normal(size=(pairs, 4))
        ahead = np.roll(latents[:, :1], -1, axis=0)[:, 0]  # the next pair's first code
        ahead[-1] = latents[-1, 0]  # (the drive's last pair: its own, as the context clamps)
        return ProbeSet(latents, np.stack([ahead, ahead, ahead], axis=1))

    train, held_out = drive(300), drive(200)
    edges = with_context(train, 2, 1)
    assert edges.latents.shape == (300, 16)
    np.testing.assert_array_equal(edges.latents[0, :4], train.latents[0])  # clamped at the start
    np.testing.assert_array_equal(edges.latents[5, 12:], train.latents[6])  # one pair ahead
    for before, after, lowest, highest in ((0, 0, -1, 0.1), (2, 0, -1, 0.1), (0, 1, 0.99, 1)):
        probe = RidgeProbe.fit(with_context(train, before, after), ridge=1e-6)
        scores = probe.r2(with_context(held_out, before, after))
        assert all(lowest < score <= highest for score in scores.values()), (before, after)
    with pytest.raises(ValueError, match="context"):
        with_context(train, -1, 0)


def test_probe_command_reports_both_backbones(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "probe.json"
    argv = ["probe", "--checkpoint", str(tiny_checkpoint), "--train-seeds", "0-1"]
    argv += ["--eval-seeds", "300", "--frames", "8", "--size", "64x32", "--out", str(out)]
    assert la_pose([*argv, "--context", "0,0", "2,1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(out.read_text())
    for backbone in ("trained_backbone", "random_backbone"):
        for key in (backbone, f"{backbone}_context_2_1"):
            assert set(report[key]["r2_held_out"]) == {"yaw_deg", "step_m", "lateral_m"}
            assert report[key]["train_pairs"] == 14 and report[key]["held_out_pairs"] == 7
    assert la_pose([*argv, "--context", "1,-1"]) == 2
    assert "--context" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("seeds", "message"),
    [(["--train-seeds", "298-301"], "reserved for evaluation"), (["--eval-seeds", "5"], "overlap")],
)
def test_probe_refuses_evaluation_seeds_for_training(tiny_checkpoint, seeds, message, capsys):
    assert la_pose(["probe", "--checkpoint", str(tiny_checkpoint), *seeds]) == 2
    assert message in capsys.readouterr().err


def test_probe_of_a_pretraining_checkpoint_checks_the_forward_dynamics(tmp_path, capsys):
    torch.manual_seed(0)
    tiny = get_config("tiny")  # with an action that reaches the decoder, shuffling it matters
    backbone = dataclasses.replace(tiny.inverse_dynamics, normalized_bottleneck=True)
    config = dataclasses.replace(tiny, inverse_dynamics=backbone)
    checkpoint = save_checkpoint(tmp_path / "pre.pt", LAPosePretrainer(config), config)
    argv = ["probe", "--checkpoint", str(checkpoint), "--train-seeds", "0-1"]
    assert la_pose([*argv, "--eval-seeds", "300-301", "--frames", "12", "--size", "64x32"]) == 0
    check = json.loads(capsys.readouterr().out)["forward_dynamics_held_out"]
    assert check["clips"] == 4  # two 12-frame drives, 6-frame clips
    assert check["ce_true"] > 0 and check["ce_shuffled"] > 0
    assert check["ce_shuffled"] != check["ce_true"]  # the shuffle reached the decoder
    for key in ("accuracy_true", "accuracy_shuffled", "copy_accuracy"):
        assert 0.0 <= check[key] <= 1.0
