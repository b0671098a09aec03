"""Float neurons follow docs/semantics.md's order: leak, integrate, fire, reset."""

import pytest
import torch
from spikeloom.models.neurons import LIF, LIFB, Readout


def drive(neuron, currents):
    return neuron(torch.tensor(currents, dtype=torch.float32).reshape(1, -1, 1))


def test_leak_halves_the_membrane_each_step():
    out, v = LIF(leak_shift=1, threshold=100.0)(torch.full((1, 3, 1), 8.0), return_membrane=True)
    assert v.flatten().tolist() == [8.0, 12.0, 14.0]  # 8; 8 - 4 + 8; 12 - 6 + 8
    assert out.sum() == 0


@pytest.mark.parametrize(
    "reset, spikes, membranes",
    [("subtract", [0, 1, 1], [0.7, 0.4, 0.1]), ("zero", [0, 1, 0], [0.7, 0.0, 0.7])],
)
def test_reset_rules(reset, spikes, membranes):
    out, v = LIF(leak_shift=None, reset=reset)(torch.full((1, 3, 1), 0.7), return_membrane=True)
    assert out.flatten().tolist() == spikes
    assert v.flatten().tolist() == pytest.approx(membranes)


def test_lifb_counts_multiples_of_threshold_up_to_burst_max():
    neuron = LIFB(burst_max=3, leak_shift=None, threshold=1.0)
    out = neuron(torch.tensor([[[0.5, 1.0, 2.0, 2.5, 3.0, 9.0]]]))
    assert out.flatten().tolist() == [0, 1, 2, 2, 3, 3]


def test_readout_integrates_without_spikes():
    assert drive(Readout(), [1.0, 2.0, -0.5]).item() == 2.5
    assert drive(Readout(leak_shift=1), [4.0, 4.0]).item() == 6.0


def test_surrogate_gradient_reaches_the_input():
    x = torch.full((2, 4, 3), 0.8, requires_grad=True)
    LIF(leak_shift=1)(x).sum().backward()
    assert x.grad.abs().sum() > 0


def test_state_is_per_call():
    neuron = LIF(leak_shift=None)
    first = drive(neuron, [0.6, 0.6])
    assert drive(neuron, [0.6, 0.6]).tolist() == first.tolist()


@pytest.mark.parametrize("kwargs", [{"reset": "hard"}, {"burst_max": 8}])
def test_bad_neuron_parameters(kwargs):
    with pytest.raises(ValueError):
        LIF(**kwargs)
    with pytest.raises(ValueError, match="2..7"):
        LIFB(burst_max=1)
