"""JSON output of results: NaN and infinities become null (JSON has no NaN)."""

import json
import math
from typing import Any


def json_ready(value: Any) -> Any:
    """Replace non-finite floats by None in nested dicts, lists and tuples."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(json_ready(value), indent=2, allow_nan=False)
