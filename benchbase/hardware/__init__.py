"""What the host and its devices are: topology, CPU binding, host facts, the CUDA-like vendor kit."""
