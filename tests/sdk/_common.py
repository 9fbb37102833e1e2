"""Helpers shared by the SDK scripts in tests/sdk/ (not a test itself)."""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, Callable, NoReturn


def model() -> str:
    return os.environ.get("WARDEN_TEST_MODEL", "gpt-4o")


def extra_headers() -> dict[str, str]:
    """Headers from env WARDEN_EXTRA_HEADERS (a JSON object) to send on every request,
    e.g. '{"x-mock-status": "429"}' to drive the mock upstream's failure controls."""
    raw = os.environ.get("WARDEN_EXTRA_HEADERS")
    if not raw:
        return {}
    try:
        headers = json.loads(raw)
    except json.JSONDecodeError as e:
        fail(f"WARDEN_EXTRA_HEADERS is not JSON: {e}")
    if not isinstance(headers, dict):
        fail("WARDEN_EXTRA_HEADERS must be a JSON object")
    return {str(k): str(v) for k, v in headers.items()}


def require_env(*names: str) -> None:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        fail(f"missing environment variable(s): {', '.join(missing)}")


def fail(message: str) -> NoReturn:
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond: bool, message: str) -> None:
    if not cond:
        fail(message)


def summary(**fields: Any) -> None:
    """Print the one JSON summary line on stdout."""
    print(json.dumps(fields, sort_keys=True, default=str), flush=True)


def main(fn: Callable[[], dict[str, Any]]) -> None:
    """Run `fn`, print its summary as JSON, exit 0; any exception exits 1 with a message."""
    require_env("OPENAI_BASE_URL", "OPENAI_API_KEY")
    try:
        result = fn()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - report anything as a failure
        traceback.print_exc(file=sys.stderr)
        fail(f"{type(e).__name__}: {e}")
    summary(ok=True, **result)
    sys.exit(0)
