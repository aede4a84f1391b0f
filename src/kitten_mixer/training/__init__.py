"""Training: the experiment config, the loop, and torchrun support."""
