"""Example vendor plugin: the smallest complete vendor a chip maker writes for benchbase."""
