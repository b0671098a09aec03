"""`AccessRequest` (hw/command/access.py) against a Python reference: bytes shifted in with random
stalls (spaces 0..7, addresses at and around each space's depth); the request fields follow the
last bytes in, the range checks one cycle later."""

import pytest
from spikeloom.hw.command.access import AccessRequest
from spikeloom.hw.protocol import ADDRESS_BYTES, word_bytes

from tests.hw.command.common import PARAMS, WIDE, seeded, simulate


def check(params, space: int, addr: int) -> tuple[int, int]:
    """(out of range, limit) of word `addr` of `space`."""
    depths = [params.weight_words, params.neuron_words, params.max_layers, 1]
    if space >= len(depths):
        return 1, len(depths)
    return int(addr >= depths[space]), depths[space]


@pytest.mark.parametrize("params", [PARAMS, WIDE], ids=["small", "wide"])
def test_requests_match_reference(params):
    rng, where = seeded("access", params.lanes)
    dut = AccessRequest(params)
    size = ADDRESS_BYTES + word_bytes(params)
    depths = [params.weight_words, params.neuron_words, params.max_layers, 1]

    def random_request() -> bytes:
        space = rng.choice([0, 1, 2, 3, rng.randrange(4, 256)])
        depth = depths[space] if space < 4 else 1
        addr = rng.choice([0, depth - 1, depth, depth + 1, rng.randrange(1 << 32)])
        word = rng.getrandbits(8 * (size - ADDRESS_BYTES))
        return bytes((space,)) + addr.to_bytes(4, "little") + word.to_bytes(size - 5, "little")

    async def bench(ctx):
        collect, previous = 0, None
        pending = b""
        for cycle in range(3000):
            if not pending:
                pending = random_request() if rng.random() < 0.5 else random_request()[:5]
            valid = rng.random() < 0.6
            ctx.set(dut.i_bytes.valid, valid)
            ctx.set(dut.i_bytes.payload, pending[0])
            data = collect.to_bytes(size, "little")
            write, read = data[:ADDRESS_BYTES], data[-ADDRESS_BYTES:]
            case = f"{where}: cycle {cycle}"
            fields = (
                ctx.get(dut.write.space),
                ctx.get(dut.write.addr),
                ctx.get(dut.data),
                ctx.get(dut.read.space),
                ctx.get(dut.read.addr),
            )
            assert fields == (
                write[0],
                int.from_bytes(write[1:], "little"),
                int.from_bytes(data[ADDRESS_BYTES:], "little"),
                read[0],
                int.from_bytes(read[1:], "little"),
            ), case
            if previous is not None:
                got = tuple(
                    ctx.get(s)
                    for s in (dut.write_bad, dut.write_limit, dut.read_bad, dut.read_limit)
                )
                assert got == previous, case
            previous = (
                *check(params, write[0], int.from_bytes(write[1:], "little")),
                *check(params, read[0], int.from_bytes(read[1:], "little")),
            )
            await ctx.tick()
            if valid:
                collect = collect >> 8 | pending[0] << 8 * (size - 1)
                pending = pending[1:]

    simulate(dut, bench)
