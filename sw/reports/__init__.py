"""Reports of runs: workload metrics, energy, plots and tables."""
