"""What ships in a model folder: its gallery of cats, its sampler of kittens, and shipping."""
