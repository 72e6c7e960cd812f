"""Entry point of the ``la-pose`` command: one subcommand per module, each with ``register``."""

import argparse
import sys

from la_pose_core.cli import metrics_command
from la_pose_core.cli.common import CommandError

SUBCOMMAND_MODULES = (metrics_command,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="la-pose",
        description="LA-Pose camera odometry: metrics, models, training, evaluation, bags.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
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
