"""Helpers the engine's block tests share."""

import os
import random

__all__ = ["SEED", "seeded", "idle"]

SEED = int(os.environ.get("SPIKELOOM_SEED", "7"))


def seeded(test: str, *params) -> random.Random:
    """A random source for one test and its parameters, named by SPIKELOOM_SEED (printed)."""
    print(f"SPIKELOOM_SEED={SEED} ({test} {params})")
    return random.Random(f"{SEED}/{test}/{params}")


async def idle(ctx, cycles: int):
    """Let `cycles` clock cycles pass (none is fine)."""
    for _ in range(cycles):
        await ctx.tick()
