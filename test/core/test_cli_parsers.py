"""The ``la-pose`` command line itself: built without torch, every option explained, one device
type, usage errors reported by the (sub)command they belong to, one set of defaults."""

import argparse
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from la_pose_core.cli.common import device_arg
from la_pose_core.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[2]
HELP_ARGVS = [
    ["--help"],
    ["train", "--help"],
    ["train", "tokenizer", "--help"],
    ["train", "posttrain", "--help"],
    ["evaluate", "--help"],
    ["probe", "--help"],
    ["metrics", "--help"],
    ["model-info", "--help"],
    ["bench", "inference", "--help"],
    ["shards", "--help"],
    ["bag", "--help"],
    ["bag", "replay", "--help"],
    ["trian"],
    ["train", "tokenizer", "--stpes", "3", "--out", "x"],
]
NO_TORCH = """
import sys
from la_pose_core.cli.main import main
for argv in {argvs!r}:
    try:
        main(argv)
    except SystemExit:
        pass
    heavy = sorted(name for name in ("torch", "la_pose_core.model") if name in sys.modules)
    assert not heavy, (argv, heavy)
print("no torch")
"""


def subcommand_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("la-pose",)):
    """``(path, parser)`` of the parser and every subcommand's, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from subcommand_parsers(subparser, (*path, name))


def options_of(parser: argparse.ArgumentParser):
    """Every argument and option but --help and the subcommand choosers."""
    ignored = (argparse._HelpAction, argparse._SubParsersAction)
    return [action for action in parser._actions if not isinstance(action, ignored)]


def test_building_the_command_line_imports_no_torch():
    """--help at every level and usage errors answer without importing torch or the model
    (importing them took 3-7 s before every answer)."""
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH.format(argvs=HELP_ARGVS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "no torch" in done.stdout, done.stderr[-2000:]


def test_every_option_of_every_command_has_help():
    parsers = list(subcommand_parsers(build_parser()))
    assert any(path[:2] == ("la-pose", "train") for path, _ in parsers)
    missing = [
        f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
        for path, parser in parsers
        for action in options_of(parser)
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert not missing, missing


def test_every_device_option_is_the_one_device_type():
    devices = {
        " ".join(path): action
        for path, parser in subcommand_parsers(build_parser())
        for action in options_of(parser)
        if "--device" in action.option_strings
    }
    expected = {
        "la-pose bench inference",
        "la-pose evaluate",
        "la-pose probe",
        *(f"la-pose train {stage}" for stage in ("tokenizer", "pretrain", "posttrain")),
    }
    assert expected <= set(devices)
    assert all(action.type is device_arg and not action.choices for action in devices.values())


@pytest.mark.parametrize(
    ("text", "device"),
    [
        ("auto", "auto"),
        ("cpu", "cpu"),
        ("cuda", "cuda"),
        ("cuda:0", "cuda:0"),
        (" CUDA:12", "cuda:12"),
    ],
)
def test_device_arg_takes_auto_cpu_cuda_and_cuda_n(text, device):
    assert device_arg(text) == device


@pytest.mark.parametrize("text", ["gpu", "", "cuda:", "cuda:-1", "cuda:x", "cuda0", "mps", "cpu:0"])
def test_device_arg_refuses_anything_else_naming_the_forms(text):
    with pytest.raises(argparse.ArgumentTypeError, match="auto, cpu, cuda or cuda:N"):
        device_arg(text)


def test_a_bad_device_is_a_usage_error_of_its_command(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["evaluate", "--checkpoint", "m.pt", "--sequence", "s", "--device", "gpu"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "usage: la-pose evaluate" in err
    assert "argument --device: expected auto, cpu, cuda or cuda:N, got 'gpu'" in err


def test_an_unknown_option_is_reported_by_its_subcommand_with_the_nearest_option(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["train", "tokenizer", "--out", "run", "--stpes", "3"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: la-pose train tokenizer ")
    assert "la-pose train tokenizer: error: unrecognized arguments: --stpes 3" in err
    assert "did you mean --steps?" in err


def test_a_mistyped_command_gets_the_top_level_usage_and_a_suggestion(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["trian"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: la-pose [-h] COMMAND")
    assert "invalid choice: 'trian'" in err and "did you mean 'train'?" in err
    with pytest.raises(SystemExit):
        main(["train", "tokeniser", "--out", "run"])
    err = capsys.readouterr().err
    assert err.startswith("usage: la-pose train ") and "did you mean 'tokenizer'?" in err


def defaults_of(argv: list[str], required: list[str]) -> argparse.Namespace:
    return build_parser().parse_args([*argv, *required])


def test_one_precision_convention_training_bf16_inference_as_the_node():
    from la_pose_ros.settings import ModelSettings

    node = ModelSettings().precision
    inference = {
        "evaluate": defaults_of(["evaluate"], ["--checkpoint", "m", "--sequence", "s"]),
        "bench": defaults_of(["bench", "inference"], []),
    }
    assert {name: args.precision for name, args in inference.items()} == {
        "evaluate": node,
        "bench": node,
    }
    assert node == "fp32"
    from la_pose_core.training.options import TrainOptions

    assert TrainOptions(stage="tokenizer", run_dir="", data=[]).precision == "bf16"
    # and the help says why they differ
    for path, parser in subcommand_parsers(build_parser()):
        for action in options_of(parser):
            if "--precision" in action.option_strings:
                assert "default" in action.help and ("node" in action.help), path


def test_one_shard_image_format_for_shards_and_bag_extract():
    from la_pose_core.data.shards import ClipShardWriter

    shards = defaults_of(["shards"], ["--synthetic", "0", "--out", "o", "--clips", "1"])
    writer = inspect.signature(ClipShardWriter).parameters
    assert shards.image_format == writer["image_format"].default == "png"
    assert shards.jpeg_quality == writer["jpeg_quality"].default
    pytest.importorskip("rosbags")
    extract = defaults_of(["bag", "extract"], ["b.bag", "--out", "o"])
    assert extract.image_format == shards.image_format
    assert extract.jpeg_quality == shards.jpeg_quality == 95
