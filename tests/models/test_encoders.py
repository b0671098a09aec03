"""Host encoders: shapes, determinism, and exact rebuild from a Program's spec."""

import pytest
import torch
from spikeloom.models.encoders import (
    AnalogEncoder,
    RateEncoder,
    ThermometerEncoder,
    encoder_from_spec,
)


def test_thermometer_levels_and_repeat_over_time():
    encoder = ThermometerEncoder(features=2, timesteps=3, levels=4)
    spikes = encoder(torch.tensor([[0.0, 0.5]]))
    assert spikes.shape == (1, 3, 8)
    # thresholds 0.2, 0.4, 0.6, 0.8: 0.0 fires none, 0.5 fires the first two.
    assert spikes[0, 0].tolist() == [0, 0, 0, 0, 1, 1, 0, 0]
    assert (spikes[0, 0] == spikes[0, 2]).all()


def test_rate_encoder_is_seeded_per_sample_in_eval():
    encoder = RateEncoder(features=50, timesteps=4, seed=3).eval()
    x = torch.full((6, 50), 0.3)
    whole = encoder(x)
    assert torch.equal(whole, encoder(x))
    assert 0.15 < whole.mean() < 0.45
    # Batching does not change a sample's spikes; its index does.
    assert torch.equal(whole[4:], encoder(x[4:], first_index=4))
    assert not torch.equal(whole[0], whole[1])
    assert not torch.equal(whole, RateEncoder(50, 4, seed=4).eval()(x))


@pytest.mark.parametrize(
    "encoder",
    [
        ThermometerEncoder(6, 2, 3),
        RateEncoder(6, 2, seed=5),
        AnalogEncoder(6, 2, width=5, leak_shift=2, reset="zero"),
    ],
)
def test_rebuild_from_spec_gives_identical_spikes(encoder):
    encoder.eval()
    if isinstance(encoder, AnalogEncoder):
        with torch.no_grad():
            encoder.norm.running_mean.uniform_(-0.3, 0.3)
            encoder.norm.running_var.uniform_(0.2, 1.0)
    x = torch.rand(7, 6)
    rebuilt = encoder_from_spec(encoder.spec(), 2, encoder.arrays())
    assert torch.equal(rebuilt(x), encoder(x))


@pytest.mark.parametrize(
    "spec, message",
    [({"kind": "wavelet"}, "not one of"), ({"kind": "thermometer"}, "missing field")],
)
def test_bad_spec(spec, message):
    with pytest.raises(ValueError, match=message):
        encoder_from_spec(spec, 2)
