"""Trainable spiking networks in PyTorch (the kinds of `zoo`): neurons, quantized layers,
encoders, data sets, training.

Imports torch (and, for the bundled data set, scikit-learn) only: never `hw`, `sw` or `sim`.
"""
