"""The Camera Pose Auto-Encoder in training: the pose-encoder stage, refinement from its model
file, virtual latent actions and clip-length sampling in post-training, label-noise counts."""

import dataclasses
import itertools
import json
import signal

import numpy as np
import pytest

from la_pose_core.data.clips import ClipSampler
from la_pose_core.data.kitti import KittiSequence
from la_pose_core.data.shards import read_shard_metadata, write_clips_to_shards
from la_pose_core.data.synthetic import SyntheticSequence
from la_pose_core.geometry import pose_from_translation_quaternion
from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.model.checkpoint import load_checkpoint, module_fingerprint
from la_pose_core.model.config import RefinementConfig
from la_pose_core.pose_autoencoder import MotionBank, TranslationRefiner
from la_pose_core.training import MODEL_FILE, Trainer
from la_pose_core.training.options import resume_options
from test.core.training.helpers import TINY, TINY_SIZE, la_pose
from test.core.training.test_trainer import assert_same_weights, options, state


@pytest.fixture(scope="module")
def teachers(tmp_path_factory, tiny_shards):
    """Two post-trained tiny models with different (random) backbones: ``(main, other)``."""
    root = tmp_path_factory.mktemp("teachers")
    paths = []
    for seed in (0, 1):
        run = options(root, tiny_shards, name=f"post{seed}", steps=2, seed=seed)
        assert Trainer(run).run().finished
        paths.append(root / f"post{seed}" / MODEL_FILE)
    return tuple(paths)


@pytest.fixture(scope="module")
def encoder_model(tmp_path_factory, tiny_shards, teachers):
    root = tmp_path_factory.mktemp("encoder")
    run = options(root, tiny_shards, "pose-encoder", "enc", steps=4, config=None)
    result = Trainer(dataclasses.replace(run, init=str(teachers[0]))).run()
    assert result.finished
    return root / "enc" / MODEL_FILE, result.summary


def distinct_pairs(shards) -> int:
    """Adjacent frame pairs of the shards' clips, each (source, first, second) counted once."""
    pairs = set()
    for meta in read_shard_metadata(str(shards)):
        indices = meta["indices"]
        pairs.update((meta["source"], a, b) for a, b in itertools.pairwise(indices))
    return len(pairs)


def test_pose_encoder_model_holds_encoder_bank_and_teacher(encoder_model, teachers, tiny_shards):
    path, summary = encoder_model
    checkpoint = load_checkpoint(path)
    assert set(checkpoint.modules) == {"pose_encoder"}
    assert {"loss_latent", "loss_pose", "relative_latent_error"} <= set(summary["last_losses"])
    bank = MotionBank.from_dict(checkpoint.extra["motion_bank"])
    assert len(bank) == distinct_pairs(tiny_shards)
    assert bank.latents.shape == (len(bank), TINY.inverse_dynamics.dim)
    # 1-4 fps clips of a 10 Hz drive: frame intervals of 0.2-1.1 s
    assert bank.fps is not None and np.all((bank.fps > 0.8) & (bank.fps < 5.5))
    teacher = load_checkpoint(teachers[0]).modules["posttrainer"].inverse_dynamics
    assert checkpoint.extra["teacher"]["inverse_dynamics_sha256"] == module_fingerprint(teacher)
    # the stored latents are the stored encoder's
    poses = pose_from_translation_quaternion(bank.translations[:5], bank.quaternions[:5])
    encoder = checkpoint.modules["pose_encoder"]
    again = MotionBank.from_relative_poses(poses, encoder, "check", fps=bank.fps[:5])
    np.testing.assert_allclose(again.latents, bank.latents[:5], atol=1e-5)


def test_estimator_refines_with_the_encoder_model(encoder_model, teachers, kitti_sample):
    path, _ = encoder_model
    refinement = RefinementConfig(str(path), k=3)
    estimator = PoseEstimator.from_checkpoint(str(teachers[0]), "cpu", refinement=refinement)
    sequence = KittiSequence(kitti_sample)
    results = [estimator.step(sequence.image(i), float(sequence.stamps[i])) for i in range(0, 30)]
    pairs = [r for r in results if r is not None and r.translation is not None]
    assert len(pairs) >= 3
    bank = estimator.refiner.bank
    for result in pairs:
        assert result.refinement_ms > 0
        # the refined translation is an affine combination of 3 bank translations
        nearest = bank.translations[bank.nearest(result.translation_head, 3)]  # (3, 3)
        weights = np.linalg.lstsq(
            np.vstack([nearest.T, np.ones(3)]), np.append(result.translation, 1.0), rcond=None
        )[0]
        np.testing.assert_allclose(weights @ nearest, result.translation, atol=1e-6)
    assert estimator.refiner.mean_ms > 0


def test_an_encoder_of_another_backbone_is_refused(encoder_model, teachers, tiny_shards, tmp_path):
    path, _ = encoder_model
    with pytest.raises(ValueError, match="another inverse dynamics model"):
        PoseEstimator.from_checkpoint(
            str(teachers[1]), "cpu", refinement=RefinementConfig(str(path))
        )
    run = options(tmp_path, tiny_shards, steps=1, init=str(teachers[1]), virtual_actions=str(path))
    with pytest.raises(ValueError, match="another inverse dynamics model"):
        Trainer(run).run()
    with pytest.raises(ValueError, match="no trained pose encoder"):
        TranslationRefiner.from_checkpoint(teachers[0])


def test_virtual_actions_add_their_loss(encoder_model, teachers, tiny_shards, tmp_path):
    path, _ = encoder_model
    run = options(
        tmp_path,
        tiny_shards,
        steps=2,
        log_every=1,
        init=str(teachers[0]),
        virtual_actions=str(path),
    )
    summary = Trainer(run).run().summary
    losses = summary["last_losses"]
    assert losses["loss_virtual"] > 0
    assert losses["loss"] == pytest.approx(losses["loss_real"] + losses["loss_virtual"], rel=1e-5)
    # the saved model is a plain post-trained model (the encoder is not part of it)
    assert set(load_checkpoint(tmp_path / "run" / MODEL_FILE).modules) == {"posttrainer"}


@pytest.mark.parametrize("stage", ["pose-encoder", "posttrain"])
def test_stopped_and_resumed_runs_equal_uninterrupted_ones(
    stage, encoder_model, teachers, tiny_shards, tmp_path
):
    """The pose-encoder stage reads its teacher again on resume; post-training with virtual
    clips, clip-length sampling and the outlier filter draws the same random numbers."""
    settings = dict(steps=5, checkpoint_every=2, init=str(teachers[0]))
    if stage == "pose-encoder":
        settings["config"] = None
        part = "pose_encoder"
    else:
        settings.update(
            virtual_actions=str(encoder_model[0]),
            clip_len_sampling="exponential",
            clip_len_decay=1.0,
            outlier_filter=True,
            outlier_window=4,
            outlier_sigma=0.5,
        )
        part = "posttrainer"
    reference = Trainer(options(tmp_path, tiny_shards, stage, "reference", **settings)).run()
    interrupted = Trainer(options(tmp_path, tiny_shards, stage, "resumed", **settings))

    def stop_at_three(trainer, step):
        if step == 3:
            trainer.stop_signal = signal.SIGTERM

    interrupted.step_hooks.append(stop_at_three)
    assert interrupted.run().step == 3
    resumed = Trainer(resume_options(tmp_path / "resumed", {"progress": False}), resume=True)
    assert resumed.run().finished and reference.finished
    assert_same_weights(
        state(tmp_path / "reference" / MODEL_FILE, part),
        state(tmp_path / "resumed" / MODEL_FILE, part),
    )


def test_clip_length_sampling_trains_on_prefixes(tiny_shards, tmp_path, monkeypatch):
    lengths = []
    run = options(tmp_path, tiny_shards, steps=12, clip_len_sampling="exponential")
    trainer = Trainer(run)
    original = trainer.stage.step

    def recording_step(model, batch, device, per_sample):
        lengths.append(batch["frames"].shape[1])
        assert batch["relative_poses"].shape[1] == batch["frames"].shape[1] - 1
        return original(model, batch, device, per_sample)

    monkeypatch.setattr(trainer.stage, "step", recording_step)
    assert trainer.run().finished
    assert len(lengths) == 12 and min(lengths) >= 2 and max(lengths) <= TINY.clip_len
    assert len(set(lengths)) > 1


def test_label_noise_counts_of_the_outlier_filter(tmp_path):
    shards = tmp_path / "noisy"
    sampler = ClipSampler(clip_len=TINY.clip_len, min_fps=1.0, max_fps=4.0)
    sequence = SyntheticSequence(70, 0, size=TINY_SIZE, fps=10.0)
    result = write_clips_to_shards(
        sequence,
        shards,
        16,
        np.random.default_rng(0),
        sampler,
        max_clips_per_shard=8,
        label_noise=0.5,
    )
    assert result.num_label_noise == 8
    run = options(
        tmp_path,
        shards,
        steps=12,
        batch_size=4,
        outlier_filter=True,
        outlier_window=16,
        outlier_sigma=1.0,
    )
    summary = Trainer(run).run().summary
    counts = summary["label_noise"]
    clips = summary["ranks"][0]["clips_seen"]
    assert clips == 48 and counts["label_noise_seen"] == 24  # 3 epochs of 16 clips, half noisy
    assert 0 <= counts["label_noise_dropped"] <= summary["outliers_dropped"]


def test_evaluate_refines_and_reverses(encoder_model, teachers, kitti_sample, tmp_path, capsys):
    path, _ = encoder_model
    out = tmp_path / "eval"
    argv = ["evaluate", "--checkpoint", str(teachers[0]), "--sequence", str(kitti_sample)]
    argv += ["--refine", str(path), "--reverse", "--baselines", "none", "--out", str(out)]
    assert la_pose(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reversed"] and metrics["refine"] == str(path)
    refinement = metrics["details"]["la_pose"]["refinement"]
    assert refinement["k"] == 3 and refinement["ms_per_pair"] > 0
    assert refinement["bank_size"] == len(
        MotionBank.from_dict(load_checkpoint(path).extra["motion_bank"])
    )
    assert summary["frames_used"] >= 10
    # reversed ground truth: the camera moves backwards (-z) between used frames
    truth = np.loadtxt(out / "trajectories" / "ground_truth.txt").reshape(-1, 3, 4)
    first_step = np.linalg.solve(
        np.vstack([truth[0], [0, 0, 0, 1]]), np.append(truth[1][:, 3], 1.0)
    )
    assert first_step[2] < -1.0
    assert la_pose([*argv[:5], "--refine", str(teachers[1]), "--out", str(out)]) == 2
    assert "no trained pose encoder" in capsys.readouterr().err


def test_the_bank_is_capped_evenly(encoder_model, teachers, tiny_shards, tmp_path, monkeypatch):
    from la_pose_core.training import stages
    from la_pose_core.training.data import resolve_shards

    monkeypatch.setattr(stages, "MAX_BANK_MOTIONS", 7)
    path, _ = encoder_model
    model = stages.PoseEncoderStage().build(TINY, load_checkpoint(teachers[0]), None)
    model.encoder.load_state_dict(load_checkpoint(path).modules["pose_encoder"].state_dict())
    run = options(tmp_path, tiny_shards, "pose-encoder", init=str(teachers[0]))
    urls = resolve_shards(str(tiny_shards))  # in the order the training run read them
    extra = stages.PoseEncoderStage().finalize(model, run, urls)
    bank = MotionBank.from_dict(extra["motion_bank"])
    full = MotionBank.from_dict(load_checkpoint(path).extra["motion_bank"])
    assert len(bank) == 7 and f"7 of {len(full)} distinct motions" in bank.source
    np.testing.assert_allclose(bank.translations[[0, -1]], full.translations[[0, -1]])
