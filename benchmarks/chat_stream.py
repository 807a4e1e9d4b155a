"""How soon does a chat reply start to show? Streaming vs waiting for the whole reply, on the
embedded model, measured in one run.

    OMP_NUM_THREADS=1 python benchmarks/chat_stream.py [--repeats 3] [--max-tokens 48]

For each prompt and repeat: the whole reply with ``ainvoke`` (the baseline: what a chat
without streaming shows, all at the end), then the same reply with ``astream`` (time to the
first visible piece, time to the end, pieces). Greedy decoding, so both give the same text.
Prints medians with the spread (min-max) over prompts and repeats, the ratio first piece /
whole reply, and machine-independent figures: pieces and tokens per reply.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

PROMPTS = [
    "I can't sleep before my exams.",
    "My best friend stopped talking to me and I don't know why.",
    "I lost my job last week and I feel useless.",
    "Work is too much lately, I'm exhausted all the time.",
]


async def measure(model: Any, prompt: str) -> dict[str, float]:
    """One prompt: the whole reply, then the streamed one."""
    started = time.perf_counter()
    whole = await model.ainvoke(prompt)
    whole_s = time.perf_counter() - started
    started = time.perf_counter()
    first_s: float | None = None
    pieces, tokens, text = 0, 0, ""
    async for chunk in model.astream(prompt):
        if chunk.content and first_s is None:
            first_s = time.perf_counter() - started
        pieces += bool(chunk.content)
        text += chunk.content
        if chunk.usage_metadata:
            tokens += chunk.usage_metadata["output_tokens"]
    end_s = time.perf_counter() - started
    assert text == whole.content, (text, whole.content)
    return {
        "whole_s": whole_s,
        "first_s": end_s if first_s is None else first_s,
        "end_s": end_s,
        "pieces": pieces,
        "tokens": tokens,
    }


def spread(values: list[float]) -> str:
    """``median (min-max)``."""
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


async def main(repeats: int, max_tokens: int) -> None:
    from sweetiechat.backends.local import LocalChatModel

    model = LocalChatModel(max_new_tokens=max_tokens, temperature=0)
    await model.ainvoke("Hello.")  # load and warm up
    rows = [await measure(model, p) for _ in range(repeats) for p in PROMPTS]
    whole = [r["whole_s"] for r in rows]
    first = [r["first_s"] for r in rows]
    end = [r["end_s"] for r in rows]
    print(f"embedded SmolLM2, greedy, max {max_tokens} tokens, {len(PROMPTS)} prompts x {repeats}")
    print(f"{'seconds, median (min-max)':34}")
    print(f"{'whole reply, ainvoke (baseline)':34}{spread(whole)}")
    print(f"{'stream: first piece':34}{spread(first)}")
    print(f"{'stream: end':34}{spread(end)}")
    first_ratio = [f / w for f, w in zip(first, whole, strict=True)]
    end_ratio = [e / w for e, w in zip(end, whole, strict=True)]
    print(f"{'first piece / whole reply':34}{spread(first_ratio)}")
    print(f"{'stream end / whole reply':34}{spread(end_ratio)}")
    pieces = sum(r["pieces"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    print(
        f"pieces per reply {pieces / len(rows):.1f}, tokens per reply {tokens / len(rows):.1f}, "
        f"tokens per piece {tokens / max(pieces, 1):.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Chat streaming latency on the embedded model.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    asyncio.run(main(args.repeats, args.max_tokens))
