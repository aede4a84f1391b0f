"""What ships beside a model: its gallery of cats, its sampler of new kittens, and shipping a run."""
