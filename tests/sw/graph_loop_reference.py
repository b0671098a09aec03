"""The format-2 semantics written as plain Python loops over ints: the oracle for
`sw.compiler.graph_golden`.

Deliberately naive and independent of the batched model: one sample at a time, one timestep,
one population, one target neuron and one source neuron or tap at a time, Python ints in
dicts keyed by index tuples, a burst count as the literal size of the set of multiples reached,
and every rule (`sat` after a subtract reset included) applied as written. A projection with a
channel range computes its current over the range's shape, then adds each of its neurons into
the target neuron `start` channels further along axis 0.
"""

import itertools

__all__ = ["run_graph_sample", "sat"]


def sat(x: int, v_bits: int) -> int:
    low, high = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    return min(max(x, low), high)


def indices(shape) -> list[tuple[int, ...]]:
    """Every index of `shape`, in C order."""
    return list(itertools.product(*(range(size) for size in shape)))


def broadcast_value(array, index) -> int:
    """array[index] where every axis of `array` of size 1 is read at 0."""
    return int(
        array[tuple(0 if size == 1 else i for size, i in zip(array.shape, index, strict=True))]
    )


def count_spikes(h: int, theta: int, burst_max: int) -> int:
    return len([m for m in range(1, burst_max + 1) if h >= m * theta])


def reset_value(h: int, n: int, theta: int, reset: str, v_bits: int) -> int:
    if reset == "zero":
        return 0 if n > 0 else h
    return sat(h - n * theta, v_bits)


def add_dense(z, c, weight, gain, source_shape, target_shape) -> None:
    sources, targets = indices(source_shape), indices(target_shape)
    for j, u in enumerate(targets):
        for i, s in enumerate(sources):
            z[u] += c[s] * int(weight[i, j]) * 2**gain


def add_axis(z, c, weight, gain, axis, source_shape, target_shape) -> None:
    for u in indices(target_shape):
        for s in indices(source_shape):
            # s feeds u when it agrees with u on every one-to-one axis; on an axis where the
            # target has size 1 (and the source more) every s is summed.
            agrees = all(
                s[d] == u[d]
                for d in range(len(source_shape))
                if d != axis and target_shape[d] == source_shape[d]
            )
            if agrees:
                z[u] += c[s] * int(weight[s[axis], u[axis]]) * 2**gain


def add_conv(z, c, weight, gain, stride, padding, groups, source_shape, target_shape) -> None:
    c_in, height, width = source_shape
    c_out = target_shape[0]
    _, c_group, kh, kw = weight.shape
    for o, y, x in indices(target_shape):
        q = o // (c_out // groups)
        g0 = q * (c_in // groups)
        for i in range(g0, g0 + c_group):
            for ky in range(kh):
                for kx in range(kw):
                    row = y * stride[0] + ky - padding[0]
                    col = x * stride[1] + kx - padding[1]
                    if 0 <= row < height and 0 <= col < width:
                        w = int(weight[o, i - g0, ky, kx])
                        z[(o, y, x)] += c[(i, row, col)] * w * 2**gain


def add_identity(z, c, gain, shape) -> None:
    for u in indices(shape):
        z[u] += c[u] * 2**gain


def update_neurons(population, v, z):
    """The format-1 neuron rules on every neuron; returns (new v, counts or None)."""
    k = population.leak_shift
    counts = {}
    new_v = {}
    for u in indices(population.shape):
        if k is None:
            lam = 0
        else:
            r = 2 ** (k - 1) if k >= 1 else 0
            lam = (v[u] + r) // 2**k  # floor division is the arithmetic shift
        h = sat(v[u] - lam + z[u] + broadcast_value(population.bias, u), population.v_bits)
        if population.neuron == "readout":
            new_v[u] = h
            continue
        theta = broadcast_value(population.threshold, u)
        n = count_spikes(h, theta, population.burst_max)
        new_v[u] = reset_value(h, n, theta, population.reset, population.v_bits)
        counts[u] = n
    return new_v, (None if population.neuron == "readout" else counts)


def update_scan(population, z):
    """A scan population: walk every line along scan.axis in groups; returns (r, counts)."""
    scan = population.scan
    shape = population.shape
    k = scan.carry_shift
    others = [d for d in range(len(shape)) if d != scan.axis]
    counts, r_values = {}, {}
    for rest in indices([shape[d] for d in others]):
        carry = 0
        for p in range(shape[scan.axis]):
            if p % scan.group == 0:
                carry = 0
            u = [0] * len(shape)
            for d, i in zip(others, rest, strict=True):
                u[d] = i
            u[scan.axis] = p
            u = tuple(u)
            theta = broadcast_value(population.threshold, u)
            h = sat(carry + z[u] + broadcast_value(population.bias, u), population.v_bits)
            n = count_spikes(h, theta, population.burst_max)
            r = reset_value(h, n, theta, population.reset, population.v_bits)
            counts[u], r_values[u] = n, r
            carry = (r + 2 ** (k - 1)) // 2**k if k >= 1 else r
    return r_values, counts


def add_projection(graph, projection, c, z, shape) -> None:
    """Add `projection`'s current from counts `c` into `z`, a current of `shape`."""
    source_shape = graph.shape_of(projection.source)
    gain = projection.gain_shift
    if projection.kind == "identity":
        add_identity(z, c, gain, shape)
        return
    weight = graph.weights[projection.weight].values
    if projection.kind == "dense":
        add_dense(z, c, weight, gain, source_shape, shape)
    elif projection.kind == "axis":
        add_axis(z, c, weight, gain, projection.axis, source_shape, shape)
    else:
        add_conv(
            z,
            c,
            weight,
            gain,
            projection.stride,
            projection.padding,
            projection.groups,
            source_shape,
            shape,
        )


def run_graph_sample(graph, spikes):
    """One sample (`spikes` `[T, *input_shape]`): returns (readout list, {name: counts as
    nested [T][flat index] lists}, {name: membranes [T][flat index]})."""
    state = {p.name: {u: 0 for u in indices(p.shape)} for p in graph.populations}
    spikes_out = {p.name: [] for p in graph.populations if p.neuron != "readout"}
    membranes = {p.name: [] for p in graph.populations}
    for t in range(graph.timesteps):
        counts = {graph.input_name: {u: int(spikes[t][u]) for u in indices(graph.input_shape)}}
        for population in graph.populations:
            z = {u: 0 for u in indices(population.shape)}
            for projection in graph.projections:
                if projection.target != population.name:
                    continue
                start, stop = projection.channels or (0, population.shape[0])
                shape = (stop - start, *population.shape[1:])
                part = {u: 0 for u in indices(shape)}
                add_projection(graph, projection, counts[projection.source], part, shape)
                for u, value in part.items():
                    z[(u[0] + start, *u[1:])] += value
            if population.neuron == "scan":
                v, n = update_scan(population, z)
            else:
                v, n = update_neurons(population, state[population.name], z)
                state[population.name] = v
            flat = indices(population.shape)
            membranes[population.name].append([v[u] for u in flat])
            if n is not None:
                counts[population.name] = n
                spikes_out[population.name].append([n[u] for u in flat])
    last = graph.populations[-1]
    if last.neuron == "readout":
        readout = list(membranes[last.name][-1])
    else:
        per_step = spikes_out[last.name]
        readout = [sum(step[j] for step in per_step) for j in range(last.size)]
    return readout, spikes_out, membranes
