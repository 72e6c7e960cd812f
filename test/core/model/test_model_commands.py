"""``model-info`` and ``bench inference`` subcommands (run through a throwaway parser)."""

import argparse
import json

from la_pose_core.cli import model_commands


def run(argv: list[str], capsys) -> dict:
    parser = argparse.ArgumentParser()
    model_commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.run(args) == 0
    return json.loads(capsys.readouterr().out)


def test_model_info_reports_sizes_without_building_weights(capsys):
    info = run(["model-info", "--config", "paper"], capsys)
    assert info["image_size"] == {"height": 448, "width": 960}
    assert info["clip_len"] == 16
    assert info["tokens_per_frame"] == {"inverse_dynamics": 28 * 60 + 1, "tokenizer_codes": 1680}
    assert (info["latent_action_dim"], info["bottleneck_dim"]) == (1536, 50)
    parameters = info["parameters"]
    parts = ("tokenizer", "inverse_dynamics", "forward_dynamics", "pose_head")
    assert parameters["total"] == sum(parameters[part] for part in parts)
    assert parameters["inverse_dynamics"] > 100_000_000


def test_bench_inference_reports_streaming_and_full_window_times(capsys):
    report = run(
        ["bench", "inference", "--config", "tiny", "--frames", "4", "--repeats", "2"], capsys
    )
    assert report["window_frames"] == 4 and report["device"] == "cpu"
    assert report["streaming_ms_per_frame"] > 0 and report["full_window_ms"] > 0
    assert report["speedup"] == report["full_window_ms"] / report["streaming_ms_per_frame"]
    assert report["peak_memory_mb"] > 0


def test_bench_inference_times_mirror_averaging(capsys):
    report = run(
        ["bench", "inference", "--config", "tiny", "--frames", "4", "--repeats", "2",
         "--mirror-average"],
        capsys,
    )  # fmt: skip
    assert report["mirror_average"] is True and report["streaming_ms_per_frame"] > 0
