"""Benchmarks: each prints its figures as a JSON object on its last line and keeps them in ``.local/bench``."""

import json
from pathlib import Path
from typing import Any

RESULTS = Path(".local/bench")


def report(name: str, result: dict[str, Any]) -> None:
    """Write ``result`` to ``.local/bench/<name>.json`` and print it as the last line."""
    result = {"benchmark": name, **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)
