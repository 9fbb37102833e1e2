"""openai-agents with tracing ON, its exporter pointed at Warden.

The documented set-up (docs/traces.md): the SDK's own BackendSpanExporter,
its endpoint set to OPENAI_BASE_URL + "/traces/ingest", so traces go to
Warden with the same token as the model calls, never to a third party.

Two agent runs in one trace with a group id (the conversation thread); the
tool's output carries an e-mail address that Warden must mask before the
span is kept. Env: WARDEN_TRACE_GROUP (the group id to use).
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.pop("OPENAI_AGENTS_DISABLE_TRACING", None)

from _common import check, main, model, require_env  # noqa: E402

from agents import Agent, Runner, function_tool, set_trace_processors, trace  # noqa: E402
from agents.tracing.processors import BackendSpanExporter, BatchTraceProcessor  # noqa: E402

exporter = BackendSpanExporter(
    endpoint=os.environ["OPENAI_BASE_URL"].rstrip("/") + "/traces/ingest",
)
processor = BatchTraceProcessor(exporter)
set_trace_processors([processor])

CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    CALLS.append(city)
    return f"sunny in {city}; questions to forecaster@example.com"


async def run() -> dict:
    require_env("WARDEN_TRACE_GROUP")
    group = os.environ["WARDEN_TRACE_GROUP"]
    agent = Agent(
        name="weather",
        instructions="Answer with the weather using the get_weather tool.",
        model=model(),
        tools=[get_weather],
    )
    with trace("weather workflow", group_id=group) as t:
        first = await Runner.run(agent, "What is the weather in Paris?", max_turns=4)
        second = await Runner.run(agent, "And in Oslo?", max_turns=4)
        trace_id = t.trace_id
    processor.force_flush()
    check(len(CALLS) == 2, f"tool called {len(CALLS)} times, expected 2: {CALLS}")
    responses = [
        r.response_id
        for result in (first, second)
        for r in result.raw_responses
        if r.response_id
    ]
    check(len(responses) == 4, f"expected 4 model responses, got {responses}")
    return {
        "script": "agents_traced",
        "trace_id": trace_id,
        "group_id": group,
        "response_ids": responses,
    }


if __name__ == "__main__":
    main(lambda: asyncio.run(run()))
