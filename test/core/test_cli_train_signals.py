"""A signalled ``la-pose train`` says so on stderr: while being set up (before the trainer's own
handler is in place) and, after a stop that saved a checkpoint, where that checkpoint is."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from la_pose_core.cli.main import main

REPO = Path(__file__).resolve().parents[2]
# SIGTERM arrives while the run is set up: the Trainer is being built, no handler of its own yet
TERMINATED_IN_SET_UP = """
import os, signal, sys, time
from la_pose_core.training import trainer
def terminated(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
trainer.Trainer.__init__ = terminated
from la_pose_core.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_while_setting_up_says_so_and_exits_as_the_signal(tmp_path):
    argv = ["train", "tokenizer", "--config", "tiny", "--data", str(tmp_path / "none")]
    done = subprocess.run(
        [sys.executable, "-c", TERMINATED_IN_SET_UP, *argv, "--out", str(tmp_path / "run")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 128 + signal.SIGTERM, (done.returncode, done.stderr)
    assert done.stderr.strip().splitlines()[-1] == (
        "la-pose train: terminated by SIGTERM before training started "
        "(no step taken, no checkpoint written)"
    )


class StoppedTrainer:
    """A Trainer whose run was stopped by SIGTERM at step 5 of 30."""

    def __init__(self, options, resume=False):
        self.options = options

    def run(self):
        from la_pose_core.training.trainer import TrainResult

        summary = {"step": 5, "stopped_by": "SIGTERM", "ranks": []}
        return TrainResult(5, 30, False, signal.SIGTERM, summary)


def test_a_stopped_run_names_its_checkpoint_and_the_resume(tmp_path, capsys, monkeypatch):
    from la_pose_core.training import trainer

    monkeypatch.setattr(trainer, "Trainer", StoppedTrainer)
    run = tmp_path / "run"
    argv = ["train", "posttrain", "--config", "tiny", "--data", str(tmp_path), "--out", str(run)]
    handler = signal.getsignal(signal.SIGTERM)
    assert main([*argv, "--steps", "30"]) == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is handler  # the set-up handler is gone again
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"la-pose train: stopped by SIGTERM at step 5 of 30; last checkpoint {run / 'last.pt'} "
        f"(continue with --out {run} --resume)"
    )


@pytest.mark.parametrize("device", ["cuda:0", "cuda:3"])
def test_train_device_cuda_n_is_checked_before_the_run(device, tmp_path, capsys, monkeypatch):
    import torch

    from la_pose_core.training import trainer

    if torch.cuda.is_available() and torch.cuda.device_count() > int(device[-1]):
        pytest.skip("this machine has that CUDA device")
    monkeypatch.setattr(trainer, "Trainer", StoppedTrainer)
    argv = ["train", "tokenizer", "--config", "tiny", "--data", str(tmp_path)]
    assert main([*argv, "--out", str(tmp_path / "run"), "--device", device]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"la-pose train: error: --device {device}: ")
