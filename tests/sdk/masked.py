"""openai SDK through masking: pseudonyms the upstream saw come back as the
caller's values, and the model's own personal data is masked, in chat
(plain and streamed) and in a streamed Responses call read with the SDK's
stream helper (which rebuilds the final response from the events)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import check, extra_headers, main, model  # noqa: E402

import openai  # noqa: E402

ASK = "Please write to jane.doe@example.com about card 4111 1111 1111 1111 seen at 10.9.8.7"
# The request profile pseudonymizes emails and cards; the output profile
# redacts IP addresses, which the request profile leaves alone.
WANT = "mock reply: Please write to jane.doe@example.com about card 4111 1111 1111 1111 seen at [IP_ADDRESS]"


def run() -> dict:
    client = openai.OpenAI(max_retries=0, timeout=30, default_headers=extra_headers())
    m = model()

    r = client.chat.completions.create(model=m, messages=[{"role": "user", "content": ASK}])
    check(r.choices[0].message.content == WANT, f"chat reply {r.choices[0].message.content!r}")

    pieces: list[str] = []
    for chunk in client.chat.completions.create(
        model=m, messages=[{"role": "user", "content": ASK}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    check("".join(pieces) == WANT, f"streamed chat {''.join(pieces)!r}")
    check(len(pieces) > 5, f"expected many deltas, got {pieces!r}")

    deltas: list[str] = []
    with client.responses.stream(model=m, input=ASK) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    check("".join(deltas) == WANT, f"streamed responses {''.join(deltas)!r}")
    check(final.output_text == WANT, f"final response text {final.output_text!r}")
    return {"script": "masked", "chat_pieces": len(pieces), "response_deltas": len(deltas)}


if __name__ == "__main__":
    main(run)
