"""Amaranth HDL for the engine and the link; `params` holds the sizes shared with the host."""
