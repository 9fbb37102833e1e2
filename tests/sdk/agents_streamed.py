"""openai-agents: Runner.run_streamed with one function tool; text deltas must arrive."""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from _common import check, main, model  # noqa: E402

from agents import Agent, Runner, function_tool, set_tracing_disabled  # noqa: E402
from openai.types.responses import ResponseTextDeltaEvent  # noqa: E402

set_tracing_disabled(True)

CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    CALLS.append(city)
    return "sunny in " + city


async def run() -> dict:
    agent = Agent(
        name="weather",
        instructions="Answer with the weather using the get_weather tool.",
        model=model(),
        tools=[get_weather],
    )
    result = Runner.run_streamed(agent, "What is the weather in Paris?", max_turns=4)
    deltas: list[str] = []
    raw_types: set[str] = set()
    item_events: list[str] = []
    async for event in result.stream_events():
        if event.type == "raw_response_event":
            raw_types.add(event.data.type)
            if isinstance(event.data, ResponseTextDeltaEvent):
                deltas.append(event.data.delta)
        elif event.type == "run_item_stream_event":
            item_events.append(event.name)
    check(result.is_complete, "stream finished but the run is not complete")
    check(len(CALLS) == 1, f"tool called {len(CALLS)} times, expected 1: {CALLS}")
    expected = "sunny in " + CALLS[0]
    final = str(result.final_output)
    check(expected in final, f"final_output {final!r} does not contain {expected!r}")
    check(len(deltas) >= 2, f"expected several text deltas, got {deltas!r}")
    streamed = "".join(deltas)
    check(expected in streamed, f"streamed text {streamed!r} does not contain {expected!r}")
    check("tool_called" in item_events, f"no tool_called item event in {item_events}")
    check("tool_output" in item_events, f"no tool_output item event in {item_events}")
    for t in (
        "response.created",
        "response.completed",
        "response.function_call_arguments.delta",
        "response.output_text.delta",
    ):
        check(t in raw_types, f"raw event {t} never arrived (got {sorted(raw_types)})")
    usage = result.context_wrapper.usage
    check(usage.requests == 2, f"expected 2 model requests, got {usage.requests}")
    check(usage.output_tokens > 0, f"usage not reported: {usage}")
    return {
        "script": "agents_streamed",
        "tool_calls": CALLS,
        "final_output": final,
        "text_deltas": len(deltas),
        "item_events": item_events,
        "raw_event_types": sorted(raw_types),
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
    }


if __name__ == "__main__":
    main(lambda: asyncio.run(run()))
