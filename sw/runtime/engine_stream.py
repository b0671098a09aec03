"""Host side of the engine's streams: Programs to configuration writes, spikes to input events,
output events back to a `Result`. Shared by every hardware backend (simulated or real).
"""

import numpy as np
from spikeloom.hw import layout
from spikeloom.hw.params import EngineParams
from spikeloom.sw.compiler.fit import check_fits
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.errors import ProgramError
from spikeloom.sw.result import Result

__all__ = [
    "COUNTERS",
    "program_images",
    "config_writes",
    "read_requests",
    "sample_events",
    "OutputDecoder",
]

#: Configuration spaces in load order: the global settings (timesteps, layers) come last.
_SPACES = (layout.SPACE_WEIGHTS, layout.SPACE_NEURONS, layout.SPACE_LAYERS, layout.SPACE_GLOBAL)

#: The engine's per-layer counters, by name.
COUNTERS = layout.LAYER_COUNTERS


def program_images(program: Program, params: EngineParams, readout_only: bool = False) -> dict:
    """Memory images of `program` for an engine built with `params` (it must fit).

    `readout_only` keeps hidden layers' spikes off the engine's output (see `hw.layout`)."""
    ok, problems = check_fits(program, params)
    if not ok:
        raise ProgramError("Program does not fit the engine: " + "; ".join(problems))
    images = [
        layout.LayerImage(
            weight=layer.weight.tolist(),
            threshold=layer.threshold.tolist(),
            bias=layer.bias.tolist(),
            weight_bits=layer.weight_bits,
            spiking=layer.spiking,
            burst_max=layer.burst_max,
            leak_shift=layer.leak_shift,
            subtract=layer.reset == "subtract",
            v_bits=layer.v_bits,
        )
        for layer in program.layers
    ]
    return layout.memory_images(params, program.timesteps, images, readout_only)


def config_writes(program: Program, params: EngineParams, readout_only: bool = False) -> list[int]:
    """Payloads for the engine's configuration port that load `program`."""
    fields = layout.write_fields(params)
    images = program_images(program, params, readout_only)
    return [
        layout.pack(fields, {"space": space, "addr": addr, "data": word})
        for space in _SPACES
        for addr, word in images[space]
    ]


def sample_events(spikes: np.ndarray, params: EngineParams) -> list[int]:
    """Input payloads for one sample `[T, inputs]`: each timestep's spikes, then its end."""
    fields = layout.input_fields(params)
    end = layout.pack(fields, {"end": 1})
    payloads = []
    for step in spikes:
        payloads += [layout.pack(fields, {"addr": int(i)}) for i in np.flatnonzero(step)]
        payloads.append(end)
    return payloads


class OutputDecoder:
    """Collects output payloads into per-sample spike counts and readouts."""

    def __init__(self, program: Program, params: EngineParams, readout_only: bool = False):
        self.program, self.params, self.readout_only = program, params, readout_only
        self.fields = layout.output_fields(params)
        self.samples: list[dict] = []
        self._start()

    def _start(self):
        self.t = 0
        last = len(self.program.layers) - 1
        self.spikes = {
            index: np.zeros((self.program.timesteps, layer.outputs), np.uint8)
            for index, layer in enumerate(self.program.layers)
            if layer.spiking and (index == last or not self.readout_only)
        }
        self.readout = np.zeros(self.program.outputs, np.int64)

    def feed(self, payload: int) -> bool:
        """Take one output event; True when it ends a sample."""
        event = layout.unpack(self.fields, payload)
        kind = event["kind"]
        if kind == layout.KIND_SPIKE:
            self.spikes[event["layer"]][self.t, event["addr"]] += 1
        elif kind == layout.KIND_STEP_END:
            self.t += 1
        elif kind == layout.KIND_READOUT:
            self.readout[event["addr"]] = event["value"]
        else:
            last = len(self.program.layers) - 1
            if self.program.layers[-1].spiking:
                self.readout = self.spikes[last].sum(axis=0, dtype=np.int64)
            self.samples.append({"spikes": self.spikes, "readout": self.readout})
            self._start()
            return True
        return False

    def result(self, cycles, counters: dict | None = None) -> Result:
        """The collected samples; `counters` maps each of COUNTERS to per-sample lists."""
        names = [layer.name for layer in self.program.layers]
        steps = self.program.timesteps
        return Result(
            readout=np.array([s["readout"] for s in self.samples], np.int64).reshape(
                len(self.samples), self.program.outputs
            ),
            spikes={
                names[i]: np.array([s["spikes"][i] for s in self.samples], np.uint8).reshape(
                    len(self.samples), steps, self.program.layers[i].outputs
                )
                for i in self.spikes  # the layers whose spikes the engine reports
            },
            cycles=np.asarray(cycles, np.int64),
            lanes=self.params.lanes,
            params=self.params.as_dict(),
            counters={
                name: np.asarray(values, np.int64).reshape(len(values), -1)[
                    :, : len(self.program.layers)
                ]
                if len(values)
                else np.zeros((0, len(self.program.layers)), np.int64)
                for name, values in (counters or {}).items()
            },
        )


def read_requests(program: Program, params: EngineParams) -> list[tuple[int, int]]:
    """`(request payload, expected word)` for every word `config_writes` loads: a read-back
    of all of them verifies a load."""
    fields = layout.read_fields(params)
    images = program_images(program, params)
    return [
        (layout.pack(fields, {"space": space, "addr": addr}), word)
        for space in _SPACES
        for addr, word in images[space]
    ]
