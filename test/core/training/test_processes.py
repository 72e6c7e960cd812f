"""Training in real processes: SIGTERM mid-run then --resume, and a 2-rank torchrun (gloo)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from la_pose_core.model.checkpoint import load_checkpoint
from la_pose_core.training import LAST_CHECKPOINT, MODEL_FILE
from test.core.training.helpers import la_pose

REPO = Path(__file__).resolve().parents[3]
TORCHRUN = Path(sys.executable).parent / "torchrun"

# The training entry point with a pause after every step, so that a signal lands mid-run.
SLOW_TRAIN = """
import sys, time
from la_pose_core.training import trainer
original = trainer.Trainer.__init__
def slowed(self, *args, **kwargs):
    original(self, *args, **kwargs)
    self.step_hooks.append(lambda _trainer, _step: time.sleep(0.2))
trainer.Trainer.__init__ = slowed
from la_pose_core.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def environment() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


def train_argv(stage: str, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train", stage, "--data", str(data), "--out", str(out), "--batch-size", "2",
        "--device", "cpu", "--no-progress", "--shuffle-buffer", "4", "--log-every", "2", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_resume_finishes_the_same_run(tmp_path, tiny_shards):
    argv = train_argv("posttrain", tiny_shards, tmp_path / "run", "--config", "tiny")
    argv += ["--steps", "30", "--checkpoint-every", "3"]
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_TRAIN, *argv],
        cwd=REPO,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = tmp_path / "run" / LAST_CHECKPOINT
    deadline = time.monotonic() + 120
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert last.exists(), process.communicate()[1]
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM: saving a checkpoint" in err
    summary = json.loads(out)
    stopped_at = summary["step"]
    assert summary["stopped_by"] == "SIGTERM" and not summary["finished"]
    assert 3 <= stopped_at < 30 and summary["model"] is None
    saved = torch.load(last, weights_only=True)["extra"]
    assert saved["step"] == stopped_at and not saved["finished"]
    assert not (tmp_path / "run" / MODEL_FILE).exists()

    # Resume in this process (the same thread count as the subprocess: one).
    assert la_pose(train_argv("posttrain", tiny_shards, tmp_path / "run", "--resume")) == 0
    final = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert final["finished"] and final["step"] == 30 and final["resumed_from_step"] == stopped_at

    # An uninterrupted run with the same options ends with the same weights.
    reference = train_argv("posttrain", tiny_shards, tmp_path / "reference", "--config", "tiny")
    assert la_pose([*reference, "--steps", "30", "--checkpoint-every", "3"]) == 0
    resumed = load_checkpoint(tmp_path / "run" / MODEL_FILE).modules["posttrainer"]
    straight = load_checkpoint(tmp_path / "reference" / MODEL_FILE).modules["posttrainer"]
    for (name, value), expected in zip(
        resumed.state_dict().items(), straight.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=name)


@pytest.mark.slow
def test_two_ranks_with_torchrun_read_different_shards(tmp_path, tiny_shards, random_tokenizer):
    argv = train_argv("pretrain", tiny_shards, tmp_path / "ddp", "--init", str(random_tokenizer))
    argv += ["--steps", "2", "--grad-accum", "2", "--checkpoint-every", "1"]
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "la_pose_core.cli.main", *argv]
    done = subprocess.run(
        command, cwd=REPO, env=environment(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)  # rank 0 only prints
    assert summary["world_size"] == 2 and summary["finished"] and summary["step"] == 2
    ranks = json.loads((tmp_path / "ddp" / "summary.json").read_text())["ranks"]
    assert [rank["rank"] for rank in ranks] == [0, 1]
    assert all(rank["clips_seen"] == 8 for rank in ranks)  # 2 steps x 2 micro-batches x 2
    first, second = (set(rank["keys_by_epoch"]["0"]) for rank in ranks)
    assert first and second and not first & second  # each rank read its own shards
    record = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert record["world_size"] == 2
    state = torch.load(tmp_path / "ddp" / LAST_CHECKPOINT, weights_only=True)["extra"]
    assert len(state["trainer_state"]["rng"]) == 2 and len(state["trainer_state"]["data"]) == 2
    assert set(load_checkpoint(tmp_path / "ddp" / MODEL_FILE).modules) == {
        "pretrainer",
        "inverse_dynamics",
    }
