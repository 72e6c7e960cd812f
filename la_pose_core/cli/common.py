"""Helpers shared by the CLI subcommands: errors and JSON output."""

import json
import math
import sys
from typing import Any, NoReturn


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def fail(message: str) -> NoReturn:
    raise CommandError(message)


def json_ready(value: Any) -> Any:
    """Replace non-finite floats by None (JSON has no NaN) in nested dicts and lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def print_json(value: Any) -> None:
    json.dump(json_ready(value), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")
