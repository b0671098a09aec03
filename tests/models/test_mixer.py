"""SpikingMixer: shapes, the encoder's layout, gradients through the binary weights, training."""

import pytest
import torch
from spikeloom.models.datasets import load_dataset
from spikeloom.models.mixer import (
    MIXER_PRESETS,
    ImageThermometerEncoder,
    MixerConfig,
    SpikingMixer,
    mixer_preset,
)
from spikeloom.models.train import TrainConfig, _train_epoch, evaluate


def test_encoder_keeps_the_image_layout_channels_first():
    encoder = ImageThermometerEncoder(8, timesteps=3, levels=4)
    x = torch.zeros(2, 64)
    x[0, 8 * 2 + 5] = 0.5  # pixel (2, 5): 0.5 >= 1/5 and 2/5, not 3/5
    spikes = encoder(x)
    assert spikes.shape == (2, 3, 4, 8, 8)
    assert spikes[0, :, :, 2, 5].tolist() == [[1, 1, 0, 0]] * 3
    assert spikes.sum() == 2 * 3


def test_shapes_and_population_names():
    config = MixerConfig(channels=8, blocks=2, timesteps=3, levels=2)
    model = SpikingMixer(config)
    scores, populations = model.run(model.encoder(torch.rand(5, 64)))
    assert scores.shape == (5, 10)
    assert populations["x0"].shape == (5, 3, 8, 4, 4)
    assert populations["b1_ff"].shape == (5, 3, 24, 4, 4)
    assert list(populations) == [
        "x0",
        *[f"b{i}_{p}" for i in range(2) for p in ("h", "w", "t", "ff", "out")],
    ]
    assert model.config.as_dict()["channels"] == 8
    assert model(torch.rand(5, 8, 8)).shape == (5, 10)


def test_second_stage_halves_the_grid_and_splits_channels_over_three_nodes():
    config = MixerConfig(channels=8, blocks=1, timesteps=2, stages=2, token_norm="axis")
    model = SpikingMixer(config)
    scores, populations = model.run(model.encoder(torch.rand(3, 64)))
    assert config.stage2_width == 18  # 2 * 8 rounded up to a multiple of 3
    assert populations["s2_n1"].shape == (3, 2, 6, 2, 2)
    assert populations["s2_x0"].shape == (3, 2, 18, 2, 2)
    assert list(populations)[-1] == "s2_b0_out"
    assert model.head.in_features == 18 * 2 * 2
    assert model.blocks[0].norm_h.broadcast_shape() == (1, 4, 1)
    assert model.stage2_blocks[0].norm_w.broadcast_shape() == (1, 1, 2)
    assert scores.shape == (3, 10)


def test_presets():
    assert MIXER_PRESETS["digits"] == MixerConfig()
    p4 = mixer_preset("mnist-p4", channels=12)
    assert (p4.tokens, p4.stage2_tokens, p4.channels) == (7, 4, 12)
    assert (MIXER_PRESETS["mnist-p7"].tokens, MIXER_PRESETS["mnist-p7"].stage2_tokens) == (4, 2)
    with pytest.raises(ValueError):
        mixer_preset("imagenet")


def test_bursts_stay_within_burst_max():
    config = MixerConfig(channels=4, blocks=1, neuron="lifb", burst_max=3)
    model = SpikingMixer(config)
    with torch.no_grad():
        _, populations = model.run(model.encoder(torch.rand(16, 64)))
    assert 1 < max(float(p.max()) for p in populations.values()) <= 3


@pytest.mark.parametrize(
    "bad",
    [
        {"neuron": "lif", "burst_max": 2},
        {"patch": 3},
        {"gain_shift": 8},
        {"reset": "soft"},
        {"stages": 3},
        {"stages": 2, "stage2_channels": 10},
        {"stages": 2, "image_size": 2, "patch": 2},
        {"token_norm": "token"},
        {"projection_gains": True, "gain_shift": 2},
    ],
)
def test_config_rejects(bad):
    with pytest.raises(ValueError):
        MixerConfig(**bad)


def test_gradients_reach_every_weight_through_the_straight_through_estimator():
    torch.manual_seed(0)
    model = SpikingMixer(MixerConfig(channels=8, blocks=2, timesteps=3))
    loss = model(torch.rand(16, 64)).logsumexp(dim=1).mean()
    loss.backward()
    for weight in model.binary_weights():
        assert weight.weight.grad is not None and weight.weight.grad.abs().sum() > 0
    for norm_name in ("norm0.gamma", "blocks.1.norm_out.beta", "gain", "head.weight"):
        assert model.get_parameter(norm_name).grad.abs().sum() > 0, norm_name
    with torch.no_grad():
        model.patch.weight.fill_(3.0)
    model.clip_weights_()
    assert model.patch.weight.max() == 1.0


@pytest.fixture
def one_thread():
    """Small tensors: on a shared machine, thread hand-offs cost more than the arithmetic."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_two_epochs_on_a_digits_subset_learn_something(one_thread):
    torch.manual_seed(0)
    x, y = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    xs, ys = torch.from_numpy(x[:320]), torch.from_numpy(y[:320])
    model = SpikingMixer(MixerConfig(channels=12, blocks=1, timesteps=2))
    train_config = TrainConfig(epochs=2, batch_size=32, lr=1e-2)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    generator = torch.Generator().manual_seed(0)
    losses = [
        _train_epoch(model, optimizer, schedule, xs, ys, generator, train_config)
        for _ in range(train_config.epochs)
    ]
    assert losses[1] < losses[0]
    assert evaluate(model, x_test, y_test) > 0.3  # chance is 0.1


def test_projection_gains_are_powers_of_two_that_learn():
    torch.manual_seed(0)
    model = SpikingMixer(MixerConfig(channels=4, blocks=1, timesteps=2, projection_gains=True))
    # x_t sums h and three token terms; the output adds ff_out: 4 + 5 exponents.
    assert len(model.gain_exponents) == 9
    with torch.no_grad():
        model.gain_exponents["b0_t__0"].fill_(1.4)
    assert model.gain_exponent("b0_t", 0) == 1 and model.gain_exponent("b0_h", 0) == 0
    model(torch.rand(8, 64)).logsumexp(dim=1).mean().backward()
    assert all(e.grad is not None and e.grad != 0 for e in model.gain_exponents.values())
    with torch.no_grad():
        model.gain_exponents["b0_t__1"].fill_(9.0)
    model.clip_weights_()
    assert model.gain_exponent("b0_t", 1) == 3
