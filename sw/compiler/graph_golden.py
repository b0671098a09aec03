"""The golden model of format 2: a graph Program (`sw.compiler.graph`) in integer PyTorch,
batched over samples.

Like `sw.compiler.golden` for format 1 it favours plainness; the shortcuts it takes are exact,
and the comment where each is used says why:

- Sources are the input or populations listed earlier, at the same timestep, so each
  population runs all T timesteps at once: its currents for every t in one product per
  projection, then a loop over t of integer elementwise updates (a scan population needs no
  loop over t at all: it keeps nothing between timesteps).
- A population's currents are computed and summed in one number format, chosen from the bound
  on its total current (`current_bound`: per channel, every projection that adds into that
  channel, gain shifts included; the largest over channels): float32 when no partial sum can
  reach 2^24, else float64 when none can reach 2^53, else int64. Every operand is an integer
  (the gain 2^g is folded into the weight), every product of a count and a weight is an exact
  integer, and every partial sum, within one product or across projections and in whatever
  order the library adds, is bounded by the sum of the absolute values of all terms: that
  bound is what decides.
- A projection that occurs more than once with the same source, weight, gain and geometry (the
  Mixer adds its patch embedding and token mixings into several populations) carries the same
  current into each: it is computed once per batch. The geometry includes the shape of the
  current (a channel range's size), not where it is added: the current of `A x` added into
  channels 0..n-1 of one population and n..2n-1 of another is one current, placed twice.
- Membranes and everything after the product run in int32 when no intermediate can leave
  int32, else in int64; membranes are returned as int64.
"""

from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F
from spikeloom.hw.params import v_range
from spikeloom.sw.compiler.graph import Graph, Population, Projection, check_graph_spikes
from spikeloom.sw.compiler.program import FLOAT32_EXACT
from spikeloom.sw.errors import ProgramError
from spikeloom.sw.result import Result

__all__ = ["Result", "run_graph_golden", "projection_bound", "current_bound"]

FLOAT64_EXACT = 1 << 53
INT32_MAX = (1 << 31) - 1
#: int64 holds v - lam + z + beta exactly while |z| stays below this (|v|, |lam| and |beta|
#: are at most 2^31 each).
INT64_CURRENT_LIMIT = 1 << 62


def _float32_is_exact() -> bool:
    """Whether float32 matrix products are computed in float32 at all: torch may be told to
    use bfloat16 or TF32 for them (`torch.set_float32_matmul_precision`), which would round."""
    if torch.get_float32_matmul_precision() != "highest":
        return False
    mkldnn = getattr(torch.backends.mkldnn, "matmul", None)
    return getattr(mkldnn, "fp32_precision", "none") in ("none", "ieee")


def _max_count(graph: Graph, name: str) -> int:
    """Most events one neuron of `name` (the input or a population) emits per timestep."""
    return 1 if name == graph.input_name else graph.population(name).burst_max


def projection_bound(graph: Graph, projection: Projection) -> int:
    """Bound on the sum of |count * weight| over all terms of one target neuron's current from
    `projection`, before the gain shift: no partial sum of its product can exceed it. (Target
    neurons outside its channel range get nothing from it.)"""
    count = _max_count(graph, projection.source)
    source = graph.shape_of(projection.source)
    target = graph.current_shape(projection)
    if projection.kind == "identity":
        return count
    weight = np.abs(graph.weights[projection.weight].values.astype(np.int64))
    if projection.kind == "dense":
        return count * int(weight.sum(axis=0).max(initial=0))
    if projection.kind == "axis":
        axis = projection.axis
        summed = int(
            np.prod(
                [
                    s
                    for d, (s, t) in enumerate(zip(source, target, strict=True))
                    if d != axis and t == 1
                ]
            )
        )
        return count * summed * int(weight.sum(axis=0).max(initial=0))
    # conv: each (input channel, tap) of an output neuron is read at most once.
    return count * int(weight.reshape(weight.shape[0], -1).sum(axis=1).max(initial=0))


def current_bound(graph: Graph, population: Population) -> int:
    """Bound on |z| and on every partial sum of it, for every neuron of `population`: per
    channel (axis 0), the projections that add into that channel, gain shifts included; the
    largest over channels. Without channel ranges, the sum over every projection into it."""
    per_channel = [0] * population.shape[0]
    for projection in graph.projections_into(population.name):
        bound = projection_bound(graph, projection) << projection.gain_shift
        start, stop = graph.channel_range(projection)
        for channel in range(start, stop):
            per_channel[channel] += bound
    return max(per_channel)


def _sum_dtype(total: int) -> torch.dtype:
    """The format a population's currents are computed and summed in, when no partial sum
    exceeds `total`: the narrowest in which every such integer is exact."""
    if total < FLOAT32_EXACT and _float32_is_exact():
        return torch.float32
    if total < FLOAT64_EXACT:
        return torch.float64
    return torch.int64


def _state_dtype(population: Population, total: int) -> torch.dtype:
    """The format of a population's update, when |z| <= `total`.

    |v|, |beta|, |v - lam| and a scan carry are at most 2^(v_bits-1), and v + r (r < 2^k,
    k < v_bits) below 2^v_bits, so every partial sum of h = v + z + beta - lam, of
    h = carry + z + beta and of the rounding is at most 2^v_bits + |z|; the reset subtracts
    n * theta <= max(h, 0). int32 holds all of it unless the membrane is ~31 bits or the
    current huge.
    """
    return torch.int64 if (1 << population.v_bits) + total > INT32_MAX else torch.int32


class _ProjectionRun:
    """One projection's weight times 2^gain_shift, prepared once in its population's format."""

    def __init__(self, graph: Graph, projection: Projection, dtype: torch.dtype):
        self.projection = projection
        self.dtype = dtype
        self.source = graph.shape_of(projection.source)
        # The shape of the current: the target's, cut to the channel range.
        self.target = graph.current_shape(projection)
        start, stop = graph.channel_range(projection)
        #: The target channels the current adds into; None: all of them.
        self.channels = None if self.target == graph.shape_of(projection.target) else (start, stop)
        # Everything the current depends on: projections with equal keys carry equal currents.
        # Where it is added (the channel range's start) is not among them.
        self.key = (
            projection.source,
            projection.kind,
            projection.weight,
            projection.gain_shift,
            projection.axis,
            tuple(projection.stride),
            tuple(projection.padding),
            projection.groups,
            self.target,
            dtype,
        )
        if projection.kind == "identity":
            return
        values = graph.weights[projection.weight].values
        # |w| * 2^g <= 2^7 * 2^7: exact in every format, and the bound already counts it.
        weight = torch.from_numpy(values.astype(np.int64) << projection.gain_shift).to(dtype)
        if projection.kind == "conv":
            c_out, c_group, kh, kw = values.shape
            groups = projection.groups
            # [groups, C_out/groups, C_in/groups, kh, kw]: output channel o = q*(C_out/groups)+j.
            weight = weight.reshape(groups, c_out // groups, c_group, kh, kw)
        self.weight = weight

    def current(self, counts: torch.Tensor) -> torch.Tensor:
        """`[N, *target]` current (gain included) from uint8 counts `[N, *source]`: exact
        integers in `dtype`, in any memory layout, never a view of `counts`."""
        kind = self.projection.kind
        n = counts.shape[0]
        if kind == "identity":
            z = counts.to(self.dtype)
            if self.projection.gain_shift:
                z *= 1 << self.projection.gain_shift  # at most 7 * 2^7: exact in every format
            return z
        if kind == "dense":
            return (counts.reshape(n, -1).to(self.dtype) @ self.weight).reshape(n, *self.target)
        if kind == "axis":
            return self._axis(counts)
        return self._conv(counts)

    def _axis(self, counts: torch.Tensor) -> torch.Tensor:
        axis = 1 + self.projection.axis
        summed = [
            1 + d
            for d, (s, t) in enumerate(zip(self.source, self.target, strict=True))
            if d + 1 != axis and t == 1 and s > 1
        ]
        x = counts
        if summed:
            # Summing counts over the target's size-1 axes first is the sum of the definition,
            # regrouped; projection_bound counts those axes' sizes in. (A sum the bound does
            # not cover only meets all-zero weights, where its value does not matter.)
            x = x.sum(dim=summed, keepdim=True, dtype=torch.int64)
        # The mixed axis last and contiguous, converted in the same copy, so that the product
        # is one matrix product over every other index.
        x = x.movedim(axis, -1).to(self.dtype, memory_format=torch.contiguous_format)
        z = x.reshape(-1, x.shape[-1]) @ self.weight
        return z.reshape(*x.shape[:-1], -1).movedim(-1, axis)

    def _conv(self, counts: torch.Tensor) -> torch.Tensor:
        projection = self.projection
        n, c_in, _, _ = counts.shape
        groups, c_out_group, c_group, kh, kw = self.weight.shape
        (sh, sw), (ph, pw) = projection.stride, projection.padding
        # im2col by strided views (`Tensor.unfold` works for every dtype, unlike F.unfold):
        # windows start at y*sh, y = 0 .. (H + 2ph - kh) // sh, exactly conv_output_shape's H'.
        x = F.pad(counts.to(self.dtype), (pw, pw, ph, ph))
        cols = x.unfold(2, kh, sh).unfold(3, kw, sw)  # [N, C_in, H', W', kh, kw]
        height, width = cols.shape[2], cols.shape[3]
        cols = cols.reshape(n, groups, c_group, height, width, kh, kw)
        z = torch.einsum("ngchwyx,gocyx->ngohw", cols, self.weight)
        return z.reshape(n, groups * c_out_group, height, width)


class _SharedCurrents:
    """One batch's currents of the projections whose key occurs more than once: each computed
    at its first use and dropped after its last."""

    def __init__(self, repeats: Counter):
        self.left = {key: uses for key, uses in repeats.items() if uses > 1}
        self.kept: dict[tuple, torch.Tensor] = {}

    def current(self, run: _ProjectionRun, counts: torch.Tensor) -> torch.Tensor:
        """`run.current(counts)`; the caller must not write into it (it may be kept)."""
        if run.key not in self.left:
            return run.current(counts)
        z = self.kept.pop(run.key, None)
        if z is None:
            z = run.current(counts)
        self.left[run.key] -= 1
        if self.left[run.key]:
            self.kept[run.key] = z
        return z


class _PopulationRun:
    """One population's projections, neuron parameters and number formats."""

    def __init__(self, graph: Graph, population: Population):
        self.population = population
        total = current_bound(graph, population)
        if total >= INT64_CURRENT_LIMIT:
            raise ProgramError(
                f"population {population.name!r}: its current can reach {total}, too large for "
                "the golden model's int64 arithmetic"
            )
        self.dtype = _sum_dtype(total)
        self.state = _state_dtype(population, total)
        self.projections = [
            _ProjectionRun(graph, p, self.dtype) for p in graph.projections_into(population.name)
        ]
        # At the full shape: elementwise ops on equal shapes run faster than broadcasting
        # over a few trailing positions, and the arrays are only one sample's size.
        shape = population.shape
        self.theta = torch.from_numpy(np.broadcast_to(population.threshold, shape).copy())
        self.theta = self.theta.to(self.state)
        self.beta = torch.from_numpy(np.broadcast_to(population.bias, shape).copy()).to(self.state)

    def currents(
        self, counts: dict[str, torch.Tensor], shared: _SharedCurrents, samples: int, steps: int
    ) -> torch.Tensor:
        """z `[samples, T, *shape]` in the state's format, contiguous: every projection into
        this population, summed. Read only: it may be a current `shared` keeps."""
        z, owned = None, False
        if any(run.channels is not None for run in self.projections):
            # Channels no projection reaches keep 0.
            z = torch.zeros((samples * steps, *self.population.shape), dtype=self.dtype)
            owned = True
        for run in self.projections:
            source = counts[run.projection.source].reshape(samples * steps, *run.source)
            current = shared.current(run, source)
            if run.channels is not None:
                start, stop = run.channels
                z[:, start:stop] += current
            elif z is None:
                z = current
            elif owned:
                z += current
            else:
                # The first current may be shared: add into a new tensor, not into it.
                z, owned = z + current, True
        # Exact integers bounded by the total, which the state's format holds.
        z = z.to(self.state, memory_format=torch.contiguous_format)
        return z.reshape(samples, steps, *self.population.shape)

    def _counts(self, h: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """n = #{m in 1..M : h >= m * theta}: a bool for M = 1, else clamp(floor(h / theta),
        0, M)."""
        if self.population.burst_max == 1:
            return h >= theta
        return torch.div(h, theta, rounding_mode="floor").clamp_(0, self.population.burst_max)

    def _reset_(self, h: torch.Tensor, n: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """The reset, in place on h."""
        if self.population.reset == "zero":
            # h * [n == 0] is masked_fill_(n > 0, 0), several times faster on CPU.
            return h.mul_(n.logical_not())
        # n * theta <= h whenever n > 0, so h - n * theta lies in 0..h: sat cannot act.
        h -= n * theta
        return h

    def step(self, z: torch.Tensor, counts_out, membranes_out) -> torch.Tensor:
        """Update over all T; write counts (uint8) and membranes (int64) when given; return the
        final membrane `[samples, *shape]`."""
        population = self.population
        if population.neuron == "scan":
            return self._scan(z, counts_out, membranes_out)
        low, high = v_range(population.v_bits)
        k = population.leak_shift
        rounding = (1 << (k - 1)) if k else 0
        v = None
        for t in range(z.shape[1]):
            h = z[:, t] + self.beta
            # The membrane starts at 0, and so does its leak: (0 + r) >> k = 0 as r < 2^k.
            if v is not None:
                h += v
                if k is not None:
                    # lam = (v + r) >> k: `>>` on integer tensors is the arithmetic shift.
                    lam = v + rounding
                    lam >>= k
                    h -= lam
            h.clamp_(low, high)
            if population.spiking:
                n = self._counts(h, self.theta)
                counts_out[:, t] = n
                v = self._reset_(h, n, self.theta)
            else:
                v = h
            if membranes_out is not None:
                membranes_out[:, t] = v
        return v

    def _scan(self, z: torch.Tensor, counts_out, membranes_out) -> torch.Tensor:
        """A scan population: every sample, timestep and line at once; the loop runs over the
        offset within a group, so position p = q*group + offset of every group q of every line
        is done together, its carry coming from position p - 1 of the same group."""
        population = self.population
        scan = population.scan
        low, high = v_range(population.v_bits)
        axis = 2 + scan.axis  # in [samples, T, *shape]
        k = scan.carry_shift
        rounding = (1 << (k - 1)) if k else 0
        full = (1, 1, *population.shape)
        # Parameters with the scan axis last, like the moved z below.
        theta = self.theta.reshape(full).movedim(axis, -1)
        beta = self.beta.reshape(full).movedim(axis, -1)
        z = z.movedim(axis, -1)
        n_all = torch.zeros_like(z, dtype=torch.uint8)
        r_all = torch.zeros_like(z)
        length = z.shape[-1]
        carry = None
        for offset in range(min(scan.group, length)):
            # Groups are consecutive, so the groups holding this offset are a prefix of those
            # holding the previous one (only the last group can be shorter).
            zo = z[..., offset :: scan.group]
            h = zo + beta[..., offset :: scan.group]
            if carry is not None:
                h += carry[..., : h.shape[-1]]
            h.clamp_(low, high)
            theta_o = theta[..., offset :: scan.group]
            n = self._counts(h, theta_o)
            n_all[..., offset :: scan.group] = n
            r = self._reset_(h, n, theta_o)
            r_all[..., offset :: scan.group] = r
            carry = (r + rounding) >> k if k else r
        counts_out.copy_(n_all.movedim(-1, axis))
        r_all = r_all.movedim(-1, axis)
        if membranes_out is not None:
            membranes_out.copy_(r_all)
        return r_all[:, -1]


@torch.inference_mode()
def run_graph_golden(
    graph: Graph, spikes, record_membranes: bool = False, batch_size: int = 1024
) -> Result:
    """Run a graph Program on input spikes `[samples, T, *input_shape]` (0/1).

    The result holds the readout `[samples, outputs]` (the readout population's final
    membrane, else the last population's spike counts summed over T, flattened) and the spike
    counts `[samples, T, *shape]` of every spiking population. With `record_membranes` it also
    holds every population's membrane after each timestep, after the reset; for a scan
    population, which keeps no membrane, the value r it reset to at each position.
    """
    spikes = check_graph_spikes(graph, spikes)
    samples, steps = spikes.shape[0], graph.timesteps
    runs = [_PopulationRun(graph, population) for population in graph.populations]
    repeats = Counter(run.key for population in runs for run in population.projections)
    last = graph.populations[-1]
    readout = np.zeros((samples, graph.outputs), dtype=np.int64)
    out_spikes = {
        p.name: np.zeros((samples, steps, *p.shape), dtype=np.uint8)
        for p in graph.populations
        if p.spiking
    }
    membranes = (
        {p.name: np.zeros((samples, steps, *p.shape), dtype=np.int64) for p in graph.populations}
        if record_membranes
        else {}
    )
    for start in range(0, samples, batch_size):
        stop = min(start + batch_size, samples)
        batch = stop - start
        counts = {graph.input_name: torch.from_numpy(spikes[start:stop])}
        shared = _SharedCurrents(repeats)
        for run in runs:
            name = run.population.name
            # Counts and membranes go straight into the result arrays (torch views of numpy).
            counts_out = (
                torch.from_numpy(out_spikes[name][start:stop]) if name in out_spikes else None
            )
            membranes_out = (
                torch.from_numpy(membranes[name][start:stop]) if record_membranes else None
            )
            v = run.step(run.currents(counts, shared, batch, steps), counts_out, membranes_out)
            if counts_out is not None:
                counts[name] = counts_out
        if last.spiking:
            total = counts[last.name].sum(dim=1, dtype=torch.int64)
            readout[start:stop] = total.reshape(batch, -1).numpy()
        else:
            readout[start:stop] = v.reshape(batch, -1).numpy()
    return Result(
        readout=readout,
        spikes=out_spikes,
        cycles=np.zeros(samples, dtype=np.int64),
        membranes=membranes,
    )
