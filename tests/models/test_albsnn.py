"""ALBSNN: estimators, the budgeted chooser, BWO's flips, and a budgeted training run."""

import pytest
import torch
from spikeloom.models.albsnn import (
    ALBSNNOptions,
    BinaryWeightOptimizer,
    choose_bits,
    current_errors,
    layer_weight_bits,
    model_weight_bits,
    weight_error,
)
from spikeloom.models.datasets import load_dataset
from spikeloom.models.layers import QuantLinear
from spikeloom.models.mlp import MLPConfig, SpikingMLP
from spikeloom.models.train import TrainConfig, load_checkpoint, save_checkpoint, train
from spikeloom.sw.compiler.compile import compile_model
from spikeloom.sw.compiler.evaluate import evaluate_program, evaluate_target


def _model_with_one_binary_like_layer() -> SpikingMLP:
    """fc1's weights are +-a with a little noise, fc2's spread uniformly."""
    torch.manual_seed(0)
    config = MLPConfig(in_features=8, hidden=[24, 16], encoder_levels=2, weight_bits=[4, 4, 4])
    model = SpikingMLP(config)
    with torch.no_grad():
        w = model.layers[0].linear.weight
        w.copy_(0.1 * torch.sign(torch.randn_like(w)) + 0.005 * torch.randn_like(w))
        model.layers[1].linear.weight.uniform_(-0.2, 0.2)
    return model


def test_weight_error_ranks_near_binary_weights_cheaper():
    model = _model_with_one_binary_like_layer()
    near, spread = (weight_error(model.layers[i].linear) for i in (0, 1))
    assert near < 0.01 < 0.2 < spread  # uniform weights: 1 - (3/4) = 0.25


def test_current_error_ranks_near_binary_weights_cheaper():
    model = _model_with_one_binary_like_layer()
    near, spread = current_errors(model, torch.rand(32, 8), [0, 1], k_bits=4)
    assert near < spread


def test_layer_and_model_weight_bits():
    assert layer_weight_bits(256, 128, 4) == 131072
    config = MLPConfig(in_features=8, hidden=[24], encoder_levels=2, weight_bits=[1, 4])
    model = SpikingMLP(config)
    assert model_weight_bits(model) == 16 * 24 * 1 + 24 * 10 * 4


def test_chooser_binarizes_the_cheapest_set_that_fits():
    sizes, k = [100, 50, 40], 4  # all 4-bit: 760 bits, all binary: 190
    costs = [0.5, 0.1, 0.2]
    # 600 bits: one binary layer must go; fc2 (saves 150) is cheapest and enough.
    assert choose_bits(sizes, costs, 610, k) == [4, 1, 4]
    # 500: fc2 alone (610) is not enough; fc1 alone (460) costs 0.5, fc2+fc3 (490) 0.3.
    assert choose_bits(sizes, costs, 500, k) == [4, 1, 1]
    assert choose_bits(sizes, costs, 490, k) == [4, 1, 1]
    assert choose_bits(sizes, costs, 489, k) == [1, 4, 4]
    assert choose_bits(sizes, costs, 760, k) == [4, 4, 4]
    assert choose_bits(sizes, [-0.1, 0.0, 0.0], 10**6, k) == [4, 4, 4]  # noise stays k-bit
    for budget in range(190, 761, 7):
        bits = choose_bits(sizes, costs, budget, k)
        assert sum(n * b for n, b in zip(sizes, bits)) <= budget
    assert choose_bits(sizes, costs, 190, k) == [1, 1, 1]
    # A layer that is not a candidate (the readout) keeps its bits.
    assert choose_bits(sizes, [0.5, 0.1, None], 400, k) == [1, 1, 4]


def test_chooser_names_the_numbers_when_the_budget_cannot_hold():
    with pytest.raises(ValueError, match="budget 189 bits is below the smallest choice, 190"):
        choose_bits([100, 50, 40], [0.5, 0.1, 0.2], 189, 4)
    with pytest.raises(ValueError, match="budget 300 bits .* 310 bits"):
        choose_bits([100, 50, 40], [0.5, 0.1, None], 300, 4)


def test_bwo_flips_only_weights_pushed_across_zero():
    linear = QuantLinear(2, 3, bits=1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.3, -0.2, 0.5], [-0.7, 0.1, 0.4]]))
    bwo = BinaryWeightOptimizer([linear], rate=0.5, margin=0.8)
    assert linear.weight.tolist() == [[1, -1, 1], [-1, 1, 1]]
    # Descent moves a weight against its gradient. Row 0 is pushed across zero every step (even
    # by a tiny gradient: the rule is scale-free); row 1 is pushed back and forth (first
    # column), always away from zero (second), or not at all (third).
    pushes = [[0.5, -1e-6, 2.0], [-1.0, -0.3, 0.0]]
    linear.weight.grad = torch.tensor(pushes)
    assert bwo.step() == 0  # one push: m / sqrt(v) = 0.71, below the margin
    assert linear.weight.grad is None  # the float optimizer leaves binary weights alone
    linear.weight.grad = torch.tensor([[0.5, -1e-6, 2.0], [1.0, -0.3, 0.0]])
    assert bwo.step() == 3  # two pushes the same way: 0.87
    assert linear.weight.tolist() == [[-1, 1, -1], [-1, 1, 1]]
    # Flipped weights now lie where the push points: it no longer flips them.
    linear.weight.grad = torch.tensor([[0.5, -1e-6, 2.0], [1.0, -0.3, 0.0]])
    assert bwo.step() == 0


def test_options_are_checked():
    with pytest.raises(ValueError, match="estimator must be one of"):
        ALBSNNOptions(estimator="hessian")
    with pytest.raises(ValueError, match="k_bits must be in 2..8"):
        ALBSNNOptions(k_bits=1)


@pytest.mark.parametrize("estimator", ["accuracy", "weight"])
def test_budgeted_training_fits_compiles_and_round_trips(tmp_path, estimator):
    config = MLPConfig(hidden=[32, 16], encoder_levels=2)  # 128 thermometer channels
    sizes = [128 * 32, 32 * 16, 16 * 10]
    budget = sum(sizes) * 2  # half of all 4-bit: fc1 must go binary
    options = ALBSNNOptions(estimator=estimator, warmup_epochs=1, bwo_patience=1)
    train_config = TrainConfig(epochs=3, lr=1e-2, seed=1, weight_budget_bits=budget, albsnn=options)
    model, history = train(config, train_config, progress=False)
    bits = model.config.weight_bits
    assert [layer.linear.bits for layer in model.layers] == bits
    assert sum(n * b for n, b in zip(sizes, bits)) <= budget and bits[0] == 1
    assert [entry["bits"] for entry in history] == [bits] * 3
    assert [entry["phase"] for entry in history][0] == "warmup" and len(history[0]["estimates"])
    assert config.weight_bits == [1, 1, 1]  # the caller's config is not changed

    save_checkpoint(tmp_path / "a.pt", model, train_config, history)
    loaded, checkpoint = load_checkpoint(tmp_path / "a.pt")
    assert loaded.config.weight_bits == bits
    assert TrainConfig(**checkpoint["train"]).albsnn == options
    program, _ = compile_model(loaded)
    assert [layer.weight_bits for layer in program.layers] == bits
    x, y = load_dataset("digits", "test")
    assert torch.equal(model.eval()(torch.from_numpy(x)), loaded(torch.from_numpy(x)))
    floating = evaluate_target(loaded, x, y).accuracy
    golden = evaluate_program(program, x, y).accuracy
    print(f"{estimator}: float {floating:.4f} golden {golden:.4f}")
    assert floating > 0.5 and abs(golden - floating) <= 0.05


def test_budget_too_small_fails_before_training():
    train_config = TrainConfig(epochs=1, weight_budget_bits=1000)
    with pytest.raises(ValueError, match="budget 1000 bits is below the smallest choice"):
        train(MLPConfig(hidden=[8]), train_config, progress=False)
