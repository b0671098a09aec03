"""The golden model: docs/semantics.md in integer PyTorch, batched over samples.

Every backend is checked against this module, so it favours plainness over cleverness. Three
shortcuts keep it fast; each is exact, and the comment where it is used says why:

- A layer's input at timestep t depends only on the layer before at the same t, so each layer
  runs all T timesteps in one matrix product, then a scan over t of integer elementwise updates.
- The matrix product runs in float32 while no partial sum can reach 2^24 (exact), else on
  int8 operands with int32 sums (`torch._int_mm`) when that is provably exact, else in
  float64. float32 comes first because it is fast on every CPU: oneDNN's int8 GEMM is fast
  only with VNNI, and measured 30 times slower than float32 on an AVX2 EPYC
  (bench/golden_throughput.py).
- The membrane scan runs in int32 when no intermediate can leave int32, else in int64.
"""

import numpy as np
import torch
from spikeloom.hw.params import v_range
from spikeloom.sw.compiler.program import FLOAT32_EXACT, Layer, Program, check_spikes
from spikeloom.sw.result import Result

__all__ = ["Result", "run_golden"]

INT16_MAX = (1 << 15) - 1
INT32_MAX = (1 << 31) - 1


def _int8_matmul_is_exact(max_count: int, max_weight: int, bound: int) -> bool:
    """Whether `torch._int_mm` (int8 x int8, int32 sums) computes counts @ W exactly.

    It runs oneDNN's int8 GEMM. On x86 CPUs without VNNI that GEMM adds 128 to one operand to
    make it unsigned and sums products in pairs into a saturating int16 (`vpmaddubsw`; oneDNN,
    "Nuances of int8 computations"), so each pair must stay below 2^15 whichever operand is
    shifted. With counts <= 7 this allows |w| <= 121; wider weights take the float path.
    Without oneDNN enabled, `_int_mm` falls back to a plain loop that is exact but slow.
    """
    pair_ok = (
        2 * (128 + max_count) * max_weight <= INT16_MAX  # counts shifted
        and 2 * 255 * max_count <= INT16_MAX  # weights shifted
    )
    onednn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    return onednn and pair_ok and bound <= INT32_MAX


class _LayerRun:
    """One layer's tensors and number formats, chosen once per `run_golden` call."""

    def __init__(self, layer: Layer, max_count: int):
        self.layer = layer
        bound = layer.max_abs_current(max_count)  # |z| <= bound
        max_weight = int(np.abs(layer.weight.astype(np.int64)).max(initial=0))
        if bound < FLOAT32_EXACT:
            # Every integer below 2^24 is a float32, so any summation order is exact.
            self.matmul_dtype = torch.float32
        elif _int8_matmul_is_exact(max_count, max_weight, bound):
            # Counts (0..burst_max) and weights are int8 values already.
            self.matmul_dtype = torch.int8
        else:
            self.matmul_dtype = torch.float64
        self.weight = torch.from_numpy(layer.weight).to(self.matmul_dtype)

        # The scan's intermediates: |v|, |v - lam| and |beta| are at most 2^(v_bits-1), and
        # h before saturation is (v - lam) + z + beta, so every partial sum is at most
        # 2^v_bits + |z|. int32 holds that unless the membrane is ~31 bits or the layer huge.
        wide = (1 << layer.v_bits) + bound > INT32_MAX
        self.dtype = torch.int64 if wide else torch.int32
        self.theta = torch.from_numpy(layer.threshold).to(self.dtype)
        self.beta = torch.from_numpy(layer.bias).to(self.dtype)

    def currents(self, counts: torch.Tensor) -> torch.Tensor:
        """z[b, t, j] = sum_i counts[b, t, i] * W[i, j], exactly, in the scan's dtype."""
        samples, steps, n_in = counts.shape
        flat = counts.reshape(samples * steps, n_in)
        if self.matmul_dtype == torch.int8:
            # Counts are 0..7, so reading the uint8 bytes as int8 changes no value.
            z = torch._int_mm(flat.view(torch.int8), self.weight)
        else:
            # The float result is an exact integer, so the conversion below truncates nothing.
            z = torch.matmul(flat.to(self.matmul_dtype), self.weight)
        return z.to(self.dtype).view(samples, steps, -1)

    def scan(self, z: torch.Tensor, counts_out, trace_out):
        """Step the membranes over T; write spike counts and membranes; return the final v.

        `counts_out` (uint8 [samples, T, n]) and `trace_out` (int64, same shape) may be None.
        """
        layer = self.layer
        samples, steps, n_out = z.shape
        low, high = v_range(layer.v_bits)
        k = layer.leak_shift
        rounding = (1 << (k - 1)) if k else 0
        v = torch.zeros(samples, n_out, dtype=self.dtype)
        for t in range(steps):
            # h = sat(v - lam + z + beta), lam = (v + r) >> k (`>>` is arithmetic on ints).
            if k is None:
                h = v + z[:, t]
            else:
                h = v - ((v + rounding) >> k)
                h += z[:, t]
            h += self.beta
            h.clamp_(low, high)
            if not layer.spiking:
                v = h
            else:
                if layer.burst_max == 1:
                    n = h >= self.theta  # #{m in 1..1 : h >= m * theta}, as a bool
                else:
                    # #{m in 1..M : h >= m * theta} is floor(h / theta) clipped to 0..M.
                    n = torch.div(h, self.theta, rounding_mode="floor").clamp_(0, layer.burst_max)
                if layer.reset == "zero":
                    v = h.masked_fill_(n > 0, 0)
                else:
                    # n * theta <= h whenever n > 0, so h - n * theta lies in 0..h and the
                    # saturation sat(h - n * theta) of section 2 can never act.
                    v = h - n * self.theta
                counts_out[:, t] = n
            if trace_out is not None:
                trace_out[:, t] = v
        return v


@torch.inference_mode()
def run_golden(program: Program, spikes, batch_size: int = 4096, trace: bool = False) -> Result:
    """Run `program` on input spikes `[samples, T, inputs]`.

    With `trace=True` the result also holds every layer's membrane after each timestep.
    """
    spikes = check_spikes(program, spikes)
    samples, steps = spikes.shape[0], program.timesteps
    last = program.layers[-1]
    readout = np.zeros((samples, last.outputs), dtype=np.int64)
    out_spikes = {
        layer.name: np.zeros((samples, steps, layer.outputs), dtype=np.uint8)
        for layer in program.layers
        if layer.spiking
    }
    membranes = (
        {
            layer.name: np.zeros((samples, steps, layer.outputs), dtype=np.int64)
            for layer in program.layers
        }
        if trace
        else {}
    )
    runs = [
        _LayerRun(layer, max_count)
        for layer, max_count in zip(program.layers, program.layer_input_counts(), strict=True)
    ]
    for start in range(0, samples, batch_size):
        stop = min(start + batch_size, samples)
        counts = torch.from_numpy(spikes[start:stop])
        for run in runs:
            name = run.layer.name
            # The scan writes straight into the result arrays (torch views of numpy memory).
            counts_out = (
                torch.from_numpy(out_spikes[name][start:stop]) if name in out_spikes else None
            )
            trace_out = torch.from_numpy(membranes[name][start:stop]) if trace else None
            v = run.scan(run.currents(counts), counts_out, trace_out)
            counts = counts_out
        if last.spiking:
            readout[start:stop] = counts.sum(dim=1, dtype=torch.int64).numpy()
        else:
            readout[start:stop] = v.numpy()
    return Result(
        readout=readout,
        spikes=out_spikes,
        cycles=np.zeros(samples, dtype=np.int64),
        membranes=membranes,
    )
