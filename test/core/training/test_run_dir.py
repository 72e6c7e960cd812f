"""The run folder across failures: a run that never stepped leaves nothing that blocks a
re-run, and the temporary files of a killed atomic write are cleaned up."""

import json

from la_pose_core.training import LAST_CHECKPOINT
from test.core.training.helpers import la_pose
from test.core.training.test_bad_data import train_argv


def test_a_run_that_fails_before_its_first_step_can_be_run_again(tmp_path, tiny_shards, capsys):
    run = tmp_path / "run"
    too_big = train_argv([tiny_shards], run, "--batch-size", "64")  # fails at the first batch
    assert la_pose(too_big) == 2
    assert "no complete batch" in capsys.readouterr().err
    assert not (run / "config.json").exists() and not (run / LAST_CHECKPOINT).exists()
    assert la_pose([*train_argv([tiny_shards], run), "--resume"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "nothing to resume" in error[0], error
    assert la_pose(train_argv([tiny_shards], run)) == 0  # the corrected run starts
    assert json.loads(capsys.readouterr().out)["finished"]
    assert json.loads((run / "config.json").read_text())["options"]["batch_size"] == 2


def test_a_folder_with_a_config_but_no_checkpoint_says_what_to_do(tmp_path, tiny_shards, capsys):
    """A run that stepped and died without a checkpoint (or one that is running now): the
    folder is not taken over, and both refusals say why and what to do."""
    run = tmp_path / "run"
    assert la_pose(train_argv([tiny_shards], run)) == 0
    (run / LAST_CHECKPOINT).unlink()
    capsys.readouterr()
    for extra in ([], ["--resume"]):
        assert la_pose([*train_argv([tiny_shards], run), *extra]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and "no checkpoint" in error[0], error
        assert str(run / "config.json") in error[0], error


def test_orphan_temporary_files_are_removed_on_start_and_resume(tmp_path, tiny_shards, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".last.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    (run / "notes.tmp").write_text("not ours")
    assert la_pose(train_argv([tiny_shards], run)) == 0
    assert not (run / ".last.pt.k1ll3d.tmp").exists() and (run / "notes.tmp").exists()
    assert "removed 1 temporary file" in capsys.readouterr().err

    orphans = [".last.pt.a1b2c3.tmp", ".summary.json.x.tmp", ".config.json.y.tmp"]
    orphans.append(".latent_cache.pt.z.tmp")
    for name in orphans:
        (run / name).write_bytes(b"torn")
    assert la_pose([*train_argv([tiny_shards], run), "--resume"]) == 0  # finished: a no-op
    assert not any((run / name).exists() for name in orphans)
    assert (run / "notes.tmp").exists()
    assert "removed 4 temporary files" in capsys.readouterr().err
