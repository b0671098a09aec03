"""The golden model of format 2: a graph Program (`sw.compiler.graph`) in integer PyTorch,
batched over samples.

Like `sw.compiler.golden` for format 1 it favours plainness; the shortcuts it takes are exact,
and the comment where each is used says why:

- Sources are the input or populations listed earlier, at the same timestep, so each
  population runs all T timesteps at once: its currents for every t in one product per
  projection, then a loop over t of integer elementwise updates (a scan population needs no
  loop over t at all: it keeps nothing between timesteps).
- A projection's product runs in float32 when no partial sum can reach 2^24, else in float64
  when none can reach 2^53, else in int64. Every operand is an integer, every product of a
  count and a weight is an exact integer, and every partial sum, in whatever order the library
  adds, is bounded by the sum of the absolute values of all terms: that bound is what decides.
- Membranes, currents and everything after the product are int64.
"""

import numpy as np
import torch
import torch.nn.functional as F
from spikeloom.hw.params import v_range
from spikeloom.sw.compiler.graph import Graph, Population, Projection, check_graph_spikes
from spikeloom.sw.compiler.program import FLOAT32_EXACT
from spikeloom.sw.errors import ProgramError
from spikeloom.sw.result import Result

__all__ = ["Result", "run_graph_golden", "projection_bound"]

FLOAT64_EXACT = 1 << 53
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
    `projection`, before the gain shift: no partial sum of its product can exceed it."""
    count = _max_count(graph, projection.source)
    source = graph.shape_of(projection.source)
    target = graph.shape_of(projection.target)
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


class _ProjectionRun:
    """One projection's weight, prepared once in the dtype its bound allows."""

    def __init__(self, graph: Graph, projection: Projection):
        self.projection = projection
        self.source = graph.shape_of(projection.source)
        self.target = graph.shape_of(projection.target)
        self.bound = projection_bound(graph, projection)
        if projection.kind == "identity":
            self.dtype = torch.int64
            return
        if self.bound < FLOAT32_EXACT and _float32_is_exact():
            self.dtype = torch.float32
        elif self.bound < FLOAT64_EXACT:
            self.dtype = torch.float64
        else:
            self.dtype = torch.int64
        values = graph.weights[projection.weight].values
        weight = torch.from_numpy(values.astype(np.int64)).to(self.dtype)
        if projection.kind == "conv":
            c_out, c_group, kh, kw = values.shape
            groups = projection.groups
            # [groups, C_out/groups, C_in/groups, kh, kw]: output channel o = q*(C_out/groups)+j.
            weight = weight.reshape(groups, c_out // groups, c_group, kh, kw)
        self.weight = weight

    def current(self, counts: torch.Tensor) -> torch.Tensor:
        """int64 `[N, *target]` current (gain included) from uint8 counts `[N, *source]`."""
        projection = self.projection
        n = counts.shape[0]
        kind = projection.kind
        if kind == "identity":
            z = counts.to(torch.int64)
        elif kind == "dense":
            z = (counts.reshape(n, -1).to(self.dtype) @ self.weight).reshape(n, *self.target)
        elif kind == "axis":
            z = self._axis(counts)
        else:
            z = self._conv(counts)
        # The float result is an exact integer below 2^53, so the conversion truncates nothing.
        z = z.to(torch.int64)
        if projection.gain_shift:
            z <<= projection.gain_shift
        return z

    def _axis(self, counts: torch.Tensor) -> torch.Tensor:
        axis = self.projection.axis
        summed = [
            1 + d
            for d, (s, t) in enumerate(zip(self.source, self.target, strict=True))
            if d != axis and t == 1 and s > 1
        ]
        # Summing counts over the target's size-1 axes first is the sum of the definition,
        # regrouped; projection_bound counts those axes' sizes in.
        x = counts.to(torch.int64)
        if summed:
            x = x.sum(dim=summed, keepdim=True)
        x = x.to(self.dtype).movedim(1 + axis, -1)
        return (x @ self.weight).movedim(-1, 1 + axis)

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


class _PopulationRun:
    """One population's projections and neuron parameters."""

    def __init__(self, graph: Graph, population: Population):
        self.population = population
        self.projections = [
            _ProjectionRun(graph, p) for p in graph.projections_into(population.name)
        ]
        total = sum(run.bound << run.projection.gain_shift for run in self.projections)
        if total >= INT64_CURRENT_LIMIT:
            raise ProgramError(
                f"population {population.name!r}: its current can reach {total}, too large for "
                "the golden model's int64 arithmetic"
            )
        self.theta = torch.from_numpy(population.threshold.astype(np.int64))
        self.beta = torch.from_numpy(population.bias.astype(np.int64))

    def currents(self, counts: dict[str, torch.Tensor], samples: int, steps: int):
        """int64 z `[samples, T, *shape]`: every projection into this population, summed."""
        shape = self.population.shape
        z = torch.zeros(samples * steps, *shape, dtype=torch.int64)
        for run in self.projections:
            source = counts[run.projection.source]
            z += run.current(source.reshape(samples * steps, *run.source))
        return z.reshape(samples, steps, *shape)

    def _counts(self, h: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """n = #{m in 1..M : h >= m * theta} = clamp(floor(h / theta), 0, M)."""
        return torch.div(h, theta, rounding_mode="floor").clamp_(0, self.population.burst_max)

    def _reset(self, h: torch.Tensor, n: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        if self.population.reset == "zero":
            return h.masked_fill(n > 0, 0)
        # n * theta <= h whenever n > 0, so h - n * theta lies in 0..h: sat cannot act.
        return h - n * theta

    def step(self, z: torch.Tensor, counts_out, membranes_out) -> torch.Tensor:
        """Update over all T; write counts (uint8) and membranes (int64) when given; return the
        final membrane `[samples, *shape]`."""
        population = self.population
        if population.neuron == "scan":
            return self._scan(z, counts_out, membranes_out)
        low, high = v_range(population.v_bits)
        k = population.leak_shift
        rounding = (1 << (k - 1)) if k else 0
        v = torch.zeros(z.shape[0], *population.shape, dtype=torch.int64)
        for t in range(z.shape[1]):
            # lam = (v + r) >> k: `>>` on integer tensors is the arithmetic shift.
            h = v + z[:, t] if k is None else v - ((v + rounding) >> k) + z[:, t]
            h += self.beta
            h.clamp_(low, high)
            if population.spiking:
                n = self._counts(h, self.theta)
                v = self._reset(h, n, self.theta)
                counts_out[:, t] = n
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
        # Parameters at full shape with the scan axis last, like the moved z below.
        theta = self.theta.expand(population.shape).reshape(full).movedim(axis, -1)
        beta = self.beta.expand(population.shape).reshape(full).movedim(axis, -1)
        z = z.movedim(axis, -1)
        n_all = torch.zeros_like(z)
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
            r = self._reset(h, n, theta_o)
            n_all[..., offset :: scan.group] = n
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
        for run in runs:
            name = run.population.name
            # Counts and membranes go straight into the result arrays (torch views of numpy).
            counts_out = (
                torch.from_numpy(out_spikes[name][start:stop]) if name in out_spikes else None
            )
            membranes_out = (
                torch.from_numpy(membranes[name][start:stop]) if record_membranes else None
            )
            v = run.step(run.currents(counts, batch, steps), counts_out, membranes_out)
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
