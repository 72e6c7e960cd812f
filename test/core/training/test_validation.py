"""Validation during training: held-out measures every N steps, to TensorBoard and
summary.json, without changing what is trained."""

import dataclasses
import signal

from la_pose_core.training import MODEL_FILE, Trainer
from la_pose_core.training.options import resume_options
from test.core.training.test_trainer import assert_same_weights, options, state


def pretrain_options(tmp_path, tiny_shards, random_tokenizer, name, **changes):
    run = options(tmp_path, tiny_shards, "pretrain", name, steps=5, config=None, **changes)
    return dataclasses.replace(run, init=str(random_tokenizer))


def test_pretraining_validation_measures_what_the_latent_action_carries(
    tmp_path, tiny_shards, random_tokenizer
):
    validated = pretrain_options(
        tmp_path, tiny_shards, random_tokenizer, "val", val_data=[str(tiny_shards)], val_every=2
    )
    result = Trainer(validated).run()
    records = result.summary["validation"]
    assert [record["step"] for record in records] == [2, 4, 5]  # every 2 steps and the last
    for record in records:
        assert record["ce_true"] > 0 and record["ce_shuffled"] > 0
        assert record["ce_gap"] == record["ce_shuffled"] - record["ce_true"]
        assert 0 <= record["copy_accuracy"] <= 1 and 0 <= record["accuracy_true"] <= 1

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "val" / "tb"))
    events.Reload()
    steps = [event.step for event in events.Scalars("val/ce_gap")]
    assert steps == [2, 4, 5]

    plain = Trainer(pretrain_options(tmp_path, tiny_shards, random_tokenizer, "plain")).run()
    assert plain.summary["validation"] == []
    assert_same_weights(  # validating changed nothing of the training
        state(tmp_path / "val" / MODEL_FILE, "pretrainer"),
        state(tmp_path / "plain" / MODEL_FILE, "pretrainer"),
    )


def test_post_training_validation_loss_and_a_resume_that_adds_it(tmp_path, tiny_shards):
    run = options(tmp_path, tiny_shards, "posttrain", "post", steps=4)

    def stop_at_two(trainer, step):
        if step == 2:
            trainer.stop_signal = signal.SIGTERM

    first = Trainer(run)
    first.step_hooks.append(stop_at_two)
    assert first.run().step == 2
    overrides = {"progress": False, "val_data": [str(tiny_shards)], "val_every": 3}
    resumed = Trainer(resume_options(tmp_path / "post", overrides), resume=True).run()
    assert resumed.finished
    records = resumed.summary["validation"]
    assert [record["step"] for record in records] == [3, 4]
    assert {"loss", "loss_translation", "loss_rotation", "loss_fov", "loss_scale"} <= set(
        records[0]
    )
    assert all(record["loss"] > 0 for record in records)
