"""docs/semantics.md written as plain Python loops over ints: the oracle for the golden model.

Deliberately naive (one neuron, one synapse at a time, Python ints, the burst count as the
literal set size) so that it shares no code or trick with `sw.golden`.
"""

from spikeloom.sw.compiler.program import Program


def sat(x: int, v_bits: int) -> int:
    low, high = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    return min(max(x, low), high)


def run_sample(program: Program, spikes) -> tuple[list[int], dict[str, list[list[int]]]]:
    """One sample: returns (readout, {layer: spike counts [T][n]})."""
    state = {layer.name: [0] * layer.outputs for layer in program.layers}
    counts_out = {layer.name: [] for layer in program.layers if layer.spiking}
    for t in range(program.timesteps):
        c = [int(s) for s in spikes[t]]
        for layer in program.layers:
            v = state[layer.name]
            k = layer.leak_shift
            n_next = []
            for j in range(layer.outputs):
                z = 0
                for i in range(layer.inputs):
                    z += c[i] * int(layer.weight[i, j])
                if k is None:
                    lam = 0
                else:
                    r = 2 ** (k - 1) if k >= 1 else 0
                    lam = (v[j] + r) // (2**k)  # floor division == arithmetic shift
                h = sat(v[j] - lam + z + int(layer.bias[j]), layer.v_bits)
                if layer.spiking:
                    theta = int(layer.threshold[j])
                    n = len([m for m in range(1, layer.burst_max + 1) if h >= m * theta])
                    if layer.reset == "zero":
                        v[j] = 0 if n > 0 else h
                    else:
                        v[j] = sat(h - n * theta, layer.v_bits)
                    n_next.append(n)
                else:
                    v[j] = h
            if layer.spiking:
                counts_out[layer.name].append(n_next)
                c = n_next
    last = program.layers[-1]
    if last.spiking:
        per_step = counts_out[last.name]
        readout = [sum(step[j] for step in per_step) for j in range(last.outputs)]
    else:
        readout = list(state[last.name])
    return readout, counts_out
