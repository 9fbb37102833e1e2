"""openai SDK: one chat completion with the SDK's default client (its default
timeout), for calls Warden holds for approval: the call simply waits, then
completes. Env: WARDEN_PROMPT (the user message), WARDEN_STREAM=1 to stream."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import check, extra_headers, main, model  # noqa: E402

import openai  # noqa: E402


def run() -> dict:
    client = openai.OpenAI(max_retries=0, default_headers=extra_headers())
    prompt = os.environ.get("WARDEN_PROMPT", "hello warden")
    messages = [{"role": "user", "content": prompt}]
    if os.environ.get("WARDEN_STREAM") == "1":
        text = ""
        for chunk in client.chat.completions.create(model=model(), messages=messages, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
    else:
        r = client.chat.completions.create(model=model(), messages=messages)
        text = r.choices[0].message.content or ""
    check(text != "", "an answer came back")
    return {"script": "chat_once", "text": text}


if __name__ == "__main__":
    main(run)
