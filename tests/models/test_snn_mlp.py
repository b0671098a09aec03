"""SpikingSNNMLP: the scan neuron's float walk, shapes and names, gradients to every weight."""

import pytest
import torch
from spikeloom.models.snn_mlp import POPULATIONS, ScanNeuron, SNNMLPConfig, SpikingSNNMLP


@pytest.mark.parametrize("group, expected", [(3, [2, 0, 1, 0, 1]), (5, [2, 0, 1, 1, 1])])
def test_scan_neuron_walks_the_semantics_example(group, expected):
    # docs/semantics.md 8.5: theta 4, beta 1, z = [9, -5, 6, 2, 5], carry_shift 2, M 2,
    # subtract. In float units one integer step is 1/4: the current is (z + beta) / theta.
    scan = ScanNeuron(axis=2, group=group, carry_shift=2, reset="subtract", burst_max=2)
    current = torch.tensor([10.0, -4.0, 7.0, 3.0, 6.0]).view(1, 1, 1, 1, 5) / 4
    counts = scan(current, unit=torch.tensor([0.25]))
    assert counts.flatten().tolist() == expected


def test_scan_neuron_walks_rows_along_axis_1():
    scan = ScanNeuron(axis=1, group=4, carry_shift=0)
    current = torch.full((1, 1, 1, 3, 2), 0.5)  # carried whole: fires at the second position
    counts = scan(current, unit=torch.tensor([0.25]))
    assert counts[0, 0, 0].tolist() == [[0, 0], [1, 1], [0, 0]]


def test_shapes_and_population_names():
    config = SNNMLPConfig(channels=4, blocks=2, timesteps=2, levels=2)
    model = SpikingSNNMLP(config)
    scores, populations = model.run(model.encoder(torch.rand(3, 64)))
    assert scores.shape == (3, 10)
    assert list(populations) == ["x0", *[f"b{i}_{p}" for i in range(2) for p in POPULATIONS]]
    assert populations["b1_ff"].shape == (3, 2, 16, 4, 4)
    assert model(torch.rand(3, 8, 8)).shape == (3, 10)


def test_gradients_reach_every_weight():
    torch.manual_seed(0)
    model = SpikingSNNMLP(SNNMLPConfig(channels=8, blocks=2, timesteps=3))
    model(torch.rand(16, 64)).logsumexp(dim=1).mean().backward()
    for weight in model.binary_weights():
        assert weight.weight.grad is not None and weight.weight.grad.abs().sum() > 0
    for name in ("blocks.0.norm_lr.gamma", "blocks.1.norm_td.beta", "gain", "head.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name


def test_the_snn_mlp_kind_trains_with_label_smoothing():
    from spikeloom.models.zoo import MODEL_KINDS

    assert MODEL_KINDS["snn-mlp"].label_smoothing == 0.1  # measured: docs/models.md
