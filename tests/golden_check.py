"""The one comparison every backend test makes: a backend's Result against the golden model."""

import numpy as np
from spikeloom.sw.compiler.golden import run_golden


def assert_matches_golden(program, spikes, result, what: str):
    """Readout and the spikes of every layer the backend reported equal the golden model's."""
    golden = run_golden(program, spikes)
    np.testing.assert_array_equal(result.readout, golden.readout, err_msg=f"{what}: readout")
    assert result.spikes.keys() == golden.spikes.keys(), what
    for name in golden.spikes:
        np.testing.assert_array_equal(
            result.spikes[name], golden.spikes[name], err_msg=f"{what}: layer {name} spikes"
        )
