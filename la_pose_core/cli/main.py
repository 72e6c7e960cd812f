"""Entry point of the ``la-pose`` command: one subcommand per module, each with ``register``.

Subcommands that need ROS (``la-pose bag``) live in ``la_pose_ros`` and come in through the
``la_pose.commands`` entry point group, loaded only when the command line is built: importing the
core never imports ROS, and without the ROS side installed those commands are just absent.
"""

import argparse
import importlib.metadata
import sys

from la_pose_core.cli import (
    data_commands,
    evaluate_command,
    metrics_command,
    model_commands,
    probe_command,
    train_commands,
)
from la_pose_core.cli.common import CommandError

SUBCOMMAND_MODULES = (
    metrics_command,
    model_commands,
    data_commands,
    train_commands,
    evaluate_command,
    probe_command,
)


def plugin_modules() -> tuple[list, list[str]]:
    """Modules of the ``la_pose.commands`` entry points, and notes on those that fail to load."""
    modules, unavailable = [], []
    for entry_point in importlib.metadata.entry_points(group="la_pose.commands"):
        try:
            modules.append(entry_point.load())
        except ImportError as error:
            unavailable.append(f"{entry_point.name} (unavailable: {error})")
    return modules, unavailable


def build_parser() -> argparse.ArgumentParser:
    plugins, unavailable = plugin_modules()
    parser = argparse.ArgumentParser(
        prog="la-pose",
        description="LA-Pose camera odometry: metrics, models, training, evaluation, bags.",
        epilog="; ".join(unavailable) or None,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (*SUBCOMMAND_MODULES, *plugins):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CommandError, OSError, ValueError) as error:
        print(f"la-pose {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
