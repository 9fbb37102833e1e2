"""openai-agents: Runner.run with one function tool, through OPENAI_BASE_URL (Responses API)."""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from _common import check, main, model  # noqa: E402

from agents import Agent, Runner, function_tool, set_tracing_disabled  # noqa: E402
from agents.items import ToolCallItem, ToolCallOutputItem  # noqa: E402

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
    result = await Runner.run(agent, "What is the weather in Paris?", max_turns=4)
    check(len(CALLS) == 1, f"tool called {len(CALLS)} times, expected 1: {CALLS}")
    expected = "sunny in " + CALLS[0]
    final = str(result.final_output)
    check(expected in final, f"final_output {final!r} does not contain {expected!r}")
    kinds = [type(i).__name__ for i in result.new_items]
    check(any(isinstance(i, ToolCallItem) for i in result.new_items), f"no ToolCallItem in {kinds}")
    check(
        any(isinstance(i, ToolCallOutputItem) for i in result.new_items),
        f"no ToolCallOutputItem in {kinds}",
    )
    usage = result.context_wrapper.usage
    check(usage.requests == 2, f"expected 2 model requests, got {usage.requests}")
    check(usage.input_tokens > 0 and usage.output_tokens > 0, f"usage not reported: {usage}")
    return {
        "script": "agents_run",
        "tool_calls": CALLS,
        "final_output": final,
        "items": kinds,
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "last_response_id": result.last_response_id,
    }


if __name__ == "__main__":
    main(lambda: asyncio.run(run()))
