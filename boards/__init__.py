"""One file per FPGA board: platform, clocks, memory choices, engine size, bitstream flow."""
