"""The harness: builds environments and agents by name, runs, sweeps and benchmarks them."""
