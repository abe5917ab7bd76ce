"""How the ranks are started: the launch plan, local launchers (one process, torchrun), Slurm, lifelines."""
