"""Training: the experiment config, run_experiment, the loop, the original call, torchrun."""
