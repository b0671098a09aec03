"""The spiking-MLP family and seeded training."""

import pytest
import torch
from spikeloom.models.mlp import MLPConfig, SpikingMLP
from spikeloom.models.train import TrainConfig, load_checkpoint, save_checkpoint, train


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"encoder": "analog", "neuron": "lifb", "burst_max": 3, "reset": "zero"},
        {"encoder": "rate", "hidden": [16, 8], "output": "spikes", "leak_shift": None},
    ],
)
def test_forward_shapes(kwargs):
    model = SpikingMLP(MLPConfig(**kwargs))
    assert model(torch.rand(5, 64)).shape == (5, 10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weight_bits": [1]}, "weight_bits has 1 entries"),
        ({"neuron": "lif", "burst_max": 2}, "burst_max 1"),
        ({"neuron": "lifb", "burst_max": 9}, "2..7"),
        ({"output": "votes"}, "output must be"),
        ({"encoder": "dct"}, "encoder 'dct'"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLPConfig(**kwargs)


def test_training_is_seeded_and_checkpoints_round_trip(tmp_path):
    config = dict(hidden=[16], encoder="thermometer")
    model_a, history_a = train(MLPConfig(**config), TrainConfig(epochs=2, seed=3), progress=False)
    _, history_b = train(MLPConfig(**config), TrainConfig(epochs=2, seed=3), progress=False)
    assert history_a == history_b
    save_checkpoint(tmp_path / "c.pt", model_a, TrainConfig(epochs=2, seed=3), history_a)
    model_c, checkpoint = load_checkpoint(tmp_path / "c.pt")
    x = torch.rand(4, 64)
    assert torch.equal(model_a.eval()(x), model_c(x))
    assert checkpoint["train"]["seed"] == 3
