"""Helpers the engine's block tests share."""

import os
import random

__all__ = ["SEED", "seeded", "idle", "wait_for"]

SEED = int(os.environ.get("SPIKELOOM_SEED", "7"))


def seeded(test: str, *params) -> random.Random:
    """A random source for one test and its parameters, named by SPIKELOOM_SEED (printed)."""
    print(f"SPIKELOOM_SEED={SEED} ({test} {params})")
    return random.Random(f"{SEED}/{test}/{params}")


async def idle(ctx, cycles: int):
    """Let `cycles` clock cycles pass (none is fine)."""
    for _ in range(cycles):
        await ctx.tick()


async def wait_for(ctx, signal, what: str, limit: int = 10_000):
    """Let cycles pass until `signal` is high (now), failing after `limit` of them."""
    for _ in range(limit):
        if ctx.get(signal):
            return
        await ctx.tick()
    raise AssertionError(f"{what}: {signal} stayed low for {limit} cycles")
