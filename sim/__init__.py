"""Simulation backends behind the Device API: Amaranth simulator, cocotb with Verilator/Icarus."""
