"""Turn raw samples into a Program's input spikes with the encoder it was compiled with."""

import numpy as np
import torch
from spikeloom.models.encoders import RateEncoder, encoder_from_spec
from spikeloom.sw.compiler.graph import Graph
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.errors import ProgramError

__all__ = ["encode"]


@torch.no_grad()
def encode(program: Program | Graph, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Raw samples `[n, features]` in [0, 1] -> uint8 spikes `[n, T, inputs]` for a chain
    Program, `[n, T, *input_shape]` for a graph."""
    if program.encoder is None:
        raise ProgramError("this Program records no encoder: give input spikes instead")
    try:
        encoder = encoder_from_spec(program.encoder, program.timesteps, program.encoder_arrays)
    except ValueError as error:
        raise ProgramError(f"encoder: {error}") from None
    features = program.encoder.get("features")
    if x.ndim != 2 or x.shape[1] != features:
        raise ProgramError(
            f"samples have shape {x.shape}, but the encoder expects {features} features"
        )
    chunks = []
    for start in range(0, len(x), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size]))
        if isinstance(encoder, RateEncoder):  # its noise is keyed by the sample's index
            chunks.append(encoder(chunk, first_index=start))
        else:
            chunks.append(encoder(chunk))
    spikes = torch.cat(chunks).round().to(torch.uint8).numpy()
    shape = program.input_shape if isinstance(program, Graph) else (program.inputs,)
    if spikes.shape[1:] != (program.timesteps, *shape):
        raise ProgramError(
            f"encoder gives {spikes.shape[1:]} spikes per sample, Program expects "
            f"{(program.timesteps, *shape)}"
        )
    return spikes
