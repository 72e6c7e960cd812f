"""``la-pose bag`` options: every one explained, the shared device type and conventions, and
``extract --config`` cutting clips for a model preset."""

import argparse

import pytest

from la_pose_core.cli.common import device_arg
from la_pose_core.cli.main import Parser, main
from la_pose_ros.bags import cli as bag_cli
from la_pose_ros.bags import extract


def bag_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = Parser(prog="la-pose")
    bag_cli.register(parser.add_subparsers(dest="command", required=True))
    bag = parser._subparsers._group_actions[0].choices["bag"]
    (commands,) = [a for a in bag._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def test_every_option_of_every_bag_command_has_help():
    parsers = bag_parsers()
    assert set(parsers) == {"extract", "from-sequence", "replay", "play"}
    missing = [
        f"bag {name} {'/'.join(action.option_strings) or action.dest}"
        for name, parser in parsers.items()
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert not missing, missing


def test_replay_takes_the_shared_device_type_and_the_inference_precision():
    from la_pose_ros.settings import ModelSettings

    replay = bag_parsers()["replay"]
    (device,) = [a for a in replay._actions if "--device" in a.option_strings]
    assert device.type is device_arg and device.default == "auto"
    args = replay.parse_args(["in_bag", "--checkpoint", "m.pt", "--out", "o"])
    assert args.precision == ModelSettings().precision == "fp32"
    assert replay.parse_args(["b", "--checkpoint", "m", "--out", "o", "--device", "cuda:1"]).device


def test_a_bad_replay_device_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["bag", "replay", "b", "--checkpoint", "m.pt", "--out", "o", "--device", "gpu0"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "usage: la-pose bag replay" in err and "expected auto, cpu, cuda or cuda:N" in err


def test_the_bag_format_copy_is_the_writers():
    from la_pose_ros.bags.defaults import BAG_FORMATS
    from la_pose_ros.bags.writer import FORMATS

    assert BAG_FORMATS == FORMATS


def test_replay_output_rate_options_are_the_core_config():
    from la_pose_core.model.config import OUTPUT_RATE_MODES, OutputRateConfig

    replay = bag_parsers()["replay"]
    args = replay.parse_args(["b", "--checkpoint", "m", "--out", "o"])
    assert OutputRateConfig(args.output_rate, args.max_rate_hz) == OutputRateConfig()
    (mode,) = [a for a in replay._actions if "--output-rate" in a.option_strings]
    assert tuple(mode.choices) == OUTPUT_RATE_MODES
    args = replay.parse_args(["b", "--checkpoint", "m", "--out", "o", "--output-rate", "camera"])
    assert args.output_rate == "camera"


@pytest.fixture
def extracted(monkeypatch):
    """``la-pose bag extract`` with ``extract_bags`` replaced: the options it would get."""
    seen = []

    def fake_extract_bags(bags, options, workers, shard_index, num_shards):
        seen.append(options)
        return {"failed": {}}

    monkeypatch.setattr(extract, "extract_bags", fake_extract_bags)
    return seen


def test_extract_config_cuts_clips_for_a_preset_and_given_options_win(extracted, capsys):
    assert main(["bag", "extract", "a.bag", "--out", "shards", "--config", "tiny"]) == 0
    assert (extracted[-1].clip_len, extracted[-1].size) == (6, (64, 32))
    argv = ["bag", "extract", "a.bag", "--out", "s", "--config", "tiny", "--clip-len", "4"]
    assert main([*argv, "--size", "96x48"]) == 0
    assert (extracted[-1].clip_len, extracted[-1].size) == (4, (96, 48))


def test_extract_defaults_are_the_paper_recipe_in_png_as_shards(extracted, capsys):
    assert main(["bag", "extract", "a.bag", "--out", "shards"]) == 0
    options = extracted[-1]
    assert (options.clip_len, options.size) == (16, (960, 448))
    assert (options.image_format, options.jpeg_quality) == ("png", 95)
    assert extract.ExtractOptions(out="x").image_format == "png"
    assert main(["bag", "extract", "a.bag", "--out", "s", "--image-format", "jpeg"]) == 0
    assert extracted[-1].image_format == "jpeg"
