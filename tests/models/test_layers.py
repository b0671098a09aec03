"""Quantized linear layers: the integers they expose are the ones the forward pass uses."""

import pytest
import torch
from spikeloom.models.layers import QuantLinear


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_forward_uses_integer_weights_times_step(bits):
    torch.manual_seed(bits)
    layer = QuantLinear(10, 6, bits)
    q = layer.integer_weight()
    low, high = (-1, 1) if bits == 1 else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    assert q.min() >= low and q.max() <= high
    if bits == 1:
        assert set(q.unique().tolist()) <= {-1, 1}
    x = torch.rand(5, 10)
    expected = x @ (q.to(torch.float32) * layer.step())
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("bits", [1, 4])
def test_straight_through_gradient(bits):
    layer = QuantLinear(4, 3, bits)
    layer(torch.ones(2, 4)).sum().backward()
    assert layer.weight.grad.abs().sum() > 0


def test_binary_latent_weights_are_clipped():
    layer = QuantLinear(3, 2, 1)
    with torch.no_grad():
        layer.weight.fill_(5.0)
    layer.clip_()
    assert layer.weight.max() == 1.0


def test_bad_bits():
    with pytest.raises(ValueError, match="1..8"):
        QuantLinear(2, 2, 9)
