"""The trainer in-process (tiny config): files, checkpoints, freezing, exact resume, errors."""

import dataclasses
import json
import signal

import pytest
import torch

from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.model.checkpoint import load_checkpoint
from la_pose_core.training import LAST_CHECKPOINT, MODEL_FILE, Trainer, TrainOptions
from la_pose_core.training.options import resume_options
from test.core.bad_checkpoints import write_bad_checkpoints
from test.core.training.helpers import TINY, la_pose


def options(tmp_path, tiny_shards, stage="posttrain", name="run", **changes) -> TrainOptions:
    base = TrainOptions(
        stage=stage,
        run_dir=str(tmp_path / name),
        data=[str(tiny_shards)],
        config=TINY,
        steps=6,
        batch_size=2,
        checkpoint_every=0,
        log_every=2,
        shuffle_buffer=4,
        device="cpu",
        progress=False,
    )
    return dataclasses.replace(base, **changes)


def state(path, part):
    return load_checkpoint(path).modules[part].state_dict()


def assert_same_weights(first: dict, second: dict, atol: float = 0.0) -> None:
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=0, atol=atol, msg=name)


def test_tokenizer_then_pretrain_then_posttrain(tmp_path, tiny_shards):
    tokenizer = Trainer(options(tmp_path, tiny_shards, "tokenizer", "tok", steps=3)).run()
    assert tokenizer.finished and tokenizer.step == 3 and tokenizer.exit_code == 0
    run = tmp_path / "tok"
    record = json.loads((run / "config.json").read_text())
    assert record["stage"] == "tokenizer" and record["model_config"]["name"] == "tiny"
    assert record["options"]["lr"] == 3e-4 and record["options"]["warmup_steps"] == 0
    assert len(record["shards"]) == 4 and record["world_size"] == 1
    assert set(load_checkpoint(run / MODEL_FILE).modules) == {"tokenizer"}
    last = torch.load(run / LAST_CHECKPOINT, weights_only=True)
    assert last["extra"]["step"] == 3 and last["extra"]["finished"]
    assert {"optimizer", "scheduler", "rng", "data"} <= set(last["extra"]["trainer_state"])

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/loss_reconstruction", "train/lr", "perf/clips_per_s"} <= tags

    pretrain = options(tmp_path, tiny_shards, "pretrain", "pre", steps=2, config=None)
    pretrain = dataclasses.replace(pretrain, init=str(run / MODEL_FILE))
    assert Trainer(pretrain).run().finished
    parts = load_checkpoint(tmp_path / "pre" / MODEL_FILE).modules
    assert set(parts) == {"pretrainer", "inverse_dynamics"}
    assert_same_weights(
        parts["pretrainer"].tokenizer.state_dict(), state(run / MODEL_FILE, "tokenizer")
    )
    summary = json.loads((tmp_path / "pre" / "summary.json").read_text())
    assert summary["last_losses"]["loss"] > 0 and "code_accuracy" in summary["last_losses"]

    # a pretraining checkpoint as --init continues that pretraining whole (a tiny step: the same)
    again = dataclasses.replace(pretrain, run_dir=str(tmp_path / "pre2"), steps=1, lr=1e-9)
    again = dataclasses.replace(again, init=str(tmp_path / "pre" / MODEL_FILE))
    assert Trainer(again).run().finished
    assert_same_weights(
        state(tmp_path / "pre2" / MODEL_FILE, "pretrainer"),
        parts["pretrainer"].state_dict(),
        atol=1e-6,
    )

    posttrain = options(tmp_path, tiny_shards, "posttrain", "post", steps=2)
    posttrain = dataclasses.replace(posttrain, init=str(tmp_path / "pre" / MODEL_FILE))
    assert Trainer(posttrain).run().finished
    model = tmp_path / "post" / MODEL_FILE
    backbone = load_checkpoint(model).modules["posttrainer"].inverse_dynamics.state_dict()
    assert_same_weights(backbone, parts["inverse_dynamics"].state_dict())  # frozen
    estimator = PoseEstimator.from_checkpoint(str(model), device="cpu")
    assert estimator.config == TINY


def test_finetune_backbone_moves_it(tmp_path, tiny_shards):
    torch.manual_seed(0)
    run = options(tmp_path, tiny_shards, steps=2, finetune_backbone=True, lr=1e-2)
    assert Trainer(run).run().finished
    first = torch.load(tmp_path / "run" / LAST_CHECKPOINT, weights_only=True)
    trainer_state = first["extra"]["trainer_state"]
    optimized = sum(len(group["params"]) for group in trainer_state["optimizer"]["param_groups"])
    backbone = sum(1 for name in first["modules"]["posttrainer"] if "inverse_dynamics" in name)
    assert optimized > backbone > 0  # backbone parameters are in the optimizer


@pytest.mark.parametrize("stage", ["posttrain", "tokenizer"])
def test_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path, tiny_shards, stage):
    extra = {"outlier_filter": True, "outlier_window": 8, "outlier_sigma": 0.5}
    extra["finetune_backbone"] = True
    settings = dict(
        steps=7, grad_accum=2, checkpoint_every=3, **(extra if stage == "posttrain" else {})
    )
    reference = Trainer(options(tmp_path, tiny_shards, stage, "reference", **settings)).run()
    assert reference.finished
    if stage == "posttrain":
        assert reference.summary["outliers_dropped"] > 0  # the filter state matters below

    interrupted = Trainer(options(tmp_path, tiny_shards, stage, "resumed", **settings))

    def stop_at_four(trainer, step):  # what the SIGTERM handler does, at a known step
        if step == 4:
            trainer.stop_signal = signal.SIGTERM

    interrupted.step_hooks.append(stop_at_four)
    result = interrupted.run()
    assert not result.finished and result.step == 4 and result.exit_code == 128 + signal.SIGTERM
    assert not (tmp_path / "resumed" / MODEL_FILE).exists()
    assert (
        torch.load(tmp_path / "resumed" / LAST_CHECKPOINT, weights_only=True)["extra"]["step"] == 4
    )

    resumed = Trainer(resume_options(tmp_path / "resumed", {"progress": False}), resume=True).run()
    assert resumed.finished and resumed.step == 7 and resumed.summary["resumed_from_step"] == 4
    part = "posttrainer" if stage == "posttrain" else "tokenizer"
    assert_same_weights(
        state(tmp_path / "reference" / MODEL_FILE, part),
        state(tmp_path / "resumed" / MODEL_FILE, part),
    )
    resumes = json.loads((tmp_path / "resumed" / "config.json").read_text())["resumes"]
    assert [r["step"] for r in resumes] == [4]


def test_command_line_errors_are_one_line(tmp_path, tiny_shards, random_tokenizer, capsys):
    base = ["train", "posttrain", "--data", str(tiny_shards), "--config", "tiny"]
    base += ["--steps", "1", "--batch-size", "2", "--no-progress", "--device", "cpu"]
    run = str(tmp_path / "cli")
    assert la_pose([*base, "--out", run]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["finished"] and summary["ranks"][0]["clips_seen"] == 2
    assert "keys_by_epoch" not in summary["ranks"][0]  # only in summary.json

    cases = [
        ([*base, "--out", run], "already holds a training run"),
        ([*base, "--out", run, "--resume", "--steps", "5"], "differ from it: --steps"),
        ([*base, "--out", str(tmp_path / "none"), "--resume"], "nothing to resume"),
        (
            [
                "train",
                "pretrain",
                "--data",
                str(tiny_shards),
                "--config",
                "tiny",
                "--out",
                run + "2",
            ],
            "needs --init",
        ),
        (
            [
                "train",
                "pretrain",
                "--data",
                str(tiny_shards),
                "--init",
                str(random_tokenizer),
                "--config",
                "small",
                "--out",
                run + "3",
            ],
            "does not fit this run",
        ),
        (
            [
                "train",
                "tokenizer",
                "--data",
                str(tmp_path / "missing"),
                "--config",
                "tiny",
                "--out",
                run + "4",
            ],
            "missing",
        ),
        ([*base, "--config", "nope", "--out", run + "5"], "neither a preset"),
        ([*base, "--out", run + "6", "--batch-size", "64"], "no complete batch"),
    ]
    for bad, reason in write_bad_checkpoints(tmp_path / "bad", random_tokenizer).items():
        init = ["--init", str(bad), "--out", str(tmp_path / f"bad_{bad.stem}")]
        cases.append(([*base, *init], f"not an LA-Pose checkpoint: {reason}"))
    for argv, message in cases:
        assert la_pose(argv) == 2, argv
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0], (argv, error)
    # resuming a finished run with the same options is a no-op that succeeds
    assert la_pose([*base, "--out", run, "--resume", "--steps", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 1


def test_clips_must_match_the_model_clip_length(tmp_path, tiny_shards):
    config = dataclasses.replace(TINY, clip_len=4)
    with pytest.raises(ValueError, match="--clip-len 4"):
        Trainer(options(tmp_path, tiny_shards, config=config)).run()


@pytest.mark.parametrize(
    ("stage", "finetune"),
    [("tokenizer", False), ("pretrain", False), ("posttrain", False), ("posttrain", True)],
)
def test_every_trainable_parameter_gets_a_gradient(stage, finetune):
    """DDP (without find_unused_parameters) needs it; it also keeps AdamW honest."""
    import numpy as np

    from la_pose_core.geometry import make_pose
    from la_pose_core.training.stages import get_stage

    torch.manual_seed(0)
    adapter = get_stage(stage)
    from la_pose_core.training import TrainOptions

    run = TrainOptions(stage=stage, run_dir="unused", data=[], finetune_backbone=finetune)
    model = adapter.build(TINY, None, run).train()
    poses = np.broadcast_to(make_pose(np.eye(3), [0.0, 0.0, 2.0]), (2, TINY.clip_len - 1, 4, 4))
    batch = {
        "key": ["a", "b"],
        "frames": torch.rand(2, TINY.clip_len, 3, TINY.image_height, TINY.image_width),
        "dt": torch.full((2, TINY.clip_len - 1), 0.5),
        "relative_poses": torch.as_tensor(poses.copy()),
        "fov": torch.full((2,), 0.6),
    }
    adapter.check_batch(batch, TINY)
    output = adapter.step(
        model, batch, torch.device("cpu"), per_sample=adapter.supports_outlier_filter
    )
    output.loss.backward()
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert trainable
    assert [name for name, p in trainable.items() if p.grad is None] == []
    if stage == "posttrain":
        backbone = [n for n in trainable if n.startswith("inverse_dynamics.")]
        assert bool(backbone) == finetune
        assert output.per_sample.shape == (2,)


def test_virtual_actions_run_a_stage_of_their_own():
    """The options choose the stage's variant once; no step asks the model's type."""
    from la_pose_core.training.stages import VirtualActionStage, get_stage

    plain = TrainOptions(stage="posttrain", run_dir="unused", data=[], config=TINY)
    posttrain = get_stage("posttrain")
    assert posttrain.for_options(plain) is posttrain
    virtual = posttrain.for_options(dataclasses.replace(plain, virtual_actions="encoder.pt"))
    assert isinstance(virtual, VirtualActionStage) and virtual.name == "posttrain"
    assert get_stage("pretrain").for_options(plain) is get_stage("pretrain")


def test_a_trained_head_can_gain_the_camera_fov_input_and_learns_to_use_it(tmp_path, tiny_shards):
    """Post-training from a head without the FoV input: its weights load, the new embedding
    starts at zero and is trained on the clips' FoVs; any other change of the head is refused."""
    Trainer(options(tmp_path, tiny_shards, name="plain", steps=2)).run()
    init = str(tmp_path / "plain" / MODEL_FILE)
    head = dataclasses.replace(TINY.pose_head, camera_fov_input=True, camera_fov_dropout=0.0)
    config = dataclasses.replace(TINY, pose_head=head)
    Trainer(options(tmp_path, tiny_shards, name="fov", init=init, config=config)).run()
    trained = state(tmp_path / "fov" / MODEL_FILE, "posttrainer")
    assert trained["pose_head.camera_fov.known.weight"].abs().max() > 0
    focal = dataclasses.replace(
        TINY, pose_head=dataclasses.replace(head, motion_in_focal_units=True)
    )
    Trainer(options(tmp_path, tiny_shards, name="focal", init=init, config=focal)).run()
    assert load_checkpoint(tmp_path / "focal" / MODEL_FILE).config.pose_head.motion_in_focal_units
    deeper = dataclasses.replace(TINY, pose_head=dataclasses.replace(head, depth=head.depth + 1))
    with pytest.raises(ValueError, match="pose_head"):
        Trainer(options(tmp_path, tiny_shards, name="deeper", init=init, config=deeper)).run()


def test_a_continued_head_may_change_its_loss_weights_but_not_its_shape(tmp_path, tiny_shards):
    """Loss weights, the rotation loss and dropouts shape the training only: a head continued
    with others loads, and its checkpoint carries the new ones; a wider head is refused."""
    Trainer(options(tmp_path, tiny_shards, name="plain", steps=2)).run()
    init = str(tmp_path / "plain" / MODEL_FILE)
    weighed = dataclasses.replace(
        TINY.pose_head, weight_rotation=TINY.pose_head.weight_rotation * 5, dropout=0.1
    )
    config = dataclasses.replace(TINY, pose_head=weighed)
    Trainer(options(tmp_path, tiny_shards, name="weighed", init=init, config=config)).run()
    saved = load_checkpoint(tmp_path / "weighed" / MODEL_FILE).config.pose_head
    assert saved.weight_rotation == weighed.weight_rotation and saved.dropout == 0.1
    wider = dataclasses.replace(TINY, pose_head=dataclasses.replace(weighed, dim=weighed.dim * 2))
    with pytest.raises(ValueError, match="pose_head"):
        Trainer(options(tmp_path, tiny_shards, name="wider", init=init, config=wider)).run()
