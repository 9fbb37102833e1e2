"""openai SDK: chat completions (plain, streamed with usage, tool round trip), embeddings, models."""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import check, extra_headers, main, model  # noqa: E402

import openai  # noqa: E402

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]


def run() -> dict:
    client = openai.OpenAI(max_retries=0, timeout=30, default_headers=extra_headers())
    m = model()
    out: dict = {"script": "chat", "model": m}

    # 1. Non-streaming.
    r = client.chat.completions.create(
        model=m, messages=[{"role": "user", "content": "hello warden"}]
    )
    text = r.choices[0].message.content or ""
    check(r.object == "chat.completion", f"object {r.object!r}")
    check("hello warden" in text, f"reply {text!r} does not echo the prompt")
    check(r.usage is not None and r.usage.total_tokens > 0, f"usage missing: {r.usage}")
    out["reply"] = text
    out["usage"] = r.usage.model_dump() if r.usage else None

    # 2. Streaming with the usage chunk.
    stream = client.chat.completions.create(
        model=m,
        messages=[{"role": "user", "content": "stream me please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    usage = None
    finish = None
    chunks = 0
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta and c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    streamed = "".join(pieces)
    check("stream me please" in streamed, f"streamed text {streamed!r}")
    check(len(pieces) >= 2, f"expected several content deltas, got {pieces!r}")
    check(finish == "stop", f"finish_reason {finish!r}")
    check(usage is not None and usage.completion_tokens > 0, "usage chunk did not arrive")
    out["stream_chunks"] = chunks
    out["stream_usage"] = usage.model_dump() if usage else None

    # 3. Tool call round trip.
    messages: list = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.chat.completions.create(model=m, messages=messages, tools=TOOLS)
    choice = r.choices[0]
    check(choice.finish_reason == "tool_calls", f"finish_reason {choice.finish_reason!r}")
    calls = choice.message.tool_calls or []
    check(len(calls) == 1, f"expected 1 tool call, got {calls}")
    call = calls[0]
    check(call.function.name == "get_weather", f"tool name {call.function.name!r}")
    args = json.loads(call.function.arguments)
    check(isinstance(args.get("city"), str), f"arguments {args!r}")
    tool_result = "sunny in " + args["city"]
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": tool_result})
    r = client.chat.completions.create(model=m, messages=messages, tools=TOOLS)
    final = r.choices[0].message.content or ""
    check(tool_result in final, f"final reply {final!r} does not contain {tool_result!r}")
    out["tool_round_trip"] = final

    # 4. Embeddings (the SDK asks for base64 by default and decodes it).
    e = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    check(len(e.data) == 2, f"expected 2 embeddings, got {len(e.data)}")
    dims = len(e.data[0].embedding)
    check(dims > 0 and all(isinstance(x, float) for x in e.data[0].embedding), "bad embedding")
    out["embedding_dims"] = dims

    # 5. Models.
    ids = [mm.id for mm in client.models.list()]
    check(m in ids, f"model {m!r} not in {ids}")
    out["models"] = ids
    return out


if __name__ == "__main__":
    main(run)
