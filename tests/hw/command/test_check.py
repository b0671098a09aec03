"""`FrameCheck` (hw/command/check.py) against a Python reference of the sequence and length rules:
headers near the expected seq, of every command and of lengths around the one it takes, each
taken or left (stalls), with the reply buffer's `stored` flag at random."""

import pytest
from spikeloom.hw.command.check import FrameCheck
from spikeloom.hw.protocol import Command, request_lengths

from tests.hw.command.common import PARAMS, WIDE, seeded, simulate


class Reference:
    def __init__(self, params):
        self.lengths = request_lengths(params)
        self.executed, self.last = False, 0

    def verdict(self, seq, command, length, stored) -> dict:
        seq_next = (self.last + 1) & 0xFF
        retry = self.executed and stored and seq == self.last
        fresh = not self.executed or seq in (seq_next, self.last)
        if command in self.lengths:
            expected, bad, unknown = self.lengths[command], length != self.lengths[command], 0
        elif command == Command.EVENTS:
            expected, bad, unknown = 1, length == 0, 0
        else:
            expected, bad, unknown = 0, 0, 1
        return {
            "retry": int(retry),
            "sequence": int(not fresh),
            "new": int(fresh and not retry),
            "bad_length": int(bad),
            "unknown": unknown,
            "expected": expected,
            "seq_next": seq_next,
            "last_seq": self.last,
        }

    def take(self, verdict, seq):
        if verdict["new"]:
            self.executed, self.last = True, seq


@pytest.mark.parametrize("params", [PARAMS, WIDE], ids=["small", "wide"])
def test_verdicts_match_reference(params):
    rng, where = seeded("check", params.lanes)
    dut = FrameCheck(params)
    ref = Reference(params)
    commands = [*request_lengths(params), Command.EVENTS, 0x00, 0x08, 0x7F, 0x85, 0xFF]
    seen = set()

    async def bench(ctx):
        for cycle in range(3000):
            seq = rng.choice(
                [ref.last, (ref.last + 1) & 0xFF, (ref.last + 2) & 0xFF, rng.randrange(256)]
            )
            command = rng.choice(commands)
            expected = ref.lengths.get(command, 1)
            length = rng.choice([expected, expected, 0, expected + 1, rng.randrange(1 << 16)])
            stored, take = rng.random() < 0.7, rng.random() < 0.6
            ctx.set(dut.header, {"seq": seq, "command": command, "length": length})
            ctx.set(dut.stored, stored)
            ctx.set(dut.take, take)
            want = ref.verdict(seq, command, length, stored)
            got = {name: ctx.get(getattr(dut.verdict, name)) for name in want}
            assert got == want, f"{where}: cycle {cycle}, header {seq, command, length}"
            seen.update(
                name for name in ("retry", "sequence", "bad_length", "unknown") if got[name]
            )
            await ctx.tick()
            if take:
                ref.take(want, seq)

    simulate(dut, bench)
    assert seen == {"retry", "sequence", "bad_length", "unknown"}, where


def test_any_seq_is_new_after_reset():
    _, where = seeded("check_reset")
    dut = FrameCheck(PARAMS)

    async def bench(ctx):
        for seq in (0, 17, 255):
            ctx.set(dut.header, {"seq": seq, "command": Command.INFO, "length": 0})
            ctx.set(dut.stored, 1)
            assert ctx.get(dut.verdict.new) == 1, f"{where}: seq {seq}"
        # Once one is taken, the next seq is new and the same seq is a retry.
        ctx.set(dut.header.seq, 9)
        ctx.set(dut.take, 1)
        await ctx.tick()
        ctx.set(dut.take, 0)
        assert ctx.get(dut.verdict.retry) == 1, where
        ctx.set(dut.header.seq, 10)
        assert ctx.get(dut.verdict.new) == 1, where
        ctx.set(dut.header.seq, 11)
        assert (ctx.get(dut.verdict.sequence), ctx.get(dut.verdict.seq_next)) == (1, 10), where

    simulate(dut, bench)
