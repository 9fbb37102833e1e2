"""openai SDK: the gateway must refuse. Expects WARDEN_EXPECT_STATUS / WARDEN_EXPECT_CODE."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import check, extra_headers, fail, main, model, require_env  # noqa: E402

import openai  # noqa: E402

# Status -> the exception class the SDK maps it to (openai._client._make_status_error).
CLASSES: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def run() -> dict:
    require_env("WARDEN_EXPECT_STATUS", "WARDEN_EXPECT_CODE")
    status = int(os.environ["WARDEN_EXPECT_STATUS"])
    code = os.environ["WARDEN_EXPECT_CODE"]
    expected_cls = CLASSES.get(status, openai.InternalServerError if status >= 500 else None)

    client = openai.OpenAI(max_retries=0, timeout=30, default_headers=extra_headers())
    try:
        client.chat.completions.create(
            model=model(), messages=[{"role": "user", "content": "this should be refused"}]
        )
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        # The SDK unwraps {"error": {...}} into e.body; accept the wrapped form too.
        err = body.get("error", body) if isinstance(body.get("error"), dict) else body
        check(e.status_code == status, f"status {e.status_code}, expected {status}: {e.body!r}")
        if expected_cls is not None:
            check(
                isinstance(e, expected_cls),
                f"{type(e).__name__} is not {expected_cls.__name__}",
            )
        got_code = e.code if e.code is not None else err.get("code")
        check(got_code == code, f"error code {got_code!r}, expected {code!r}: {e.body!r}")
        check(bool(e.message), "empty error message")
        print(f"error code: {got_code}", file=sys.stderr)
        return {
            "script": "errors",
            "status": e.status_code,
            "code": got_code,
            "type": err.get("type"),
            "exception": type(e).__name__,
            "message": err.get("message"),
            "request_id": e.request_id,
        }
    fail(f"the call succeeded; expected HTTP {status} with code {code!r}")


if __name__ == "__main__":
    main(run)
