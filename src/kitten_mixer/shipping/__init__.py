"""What ships beside a model's weights, and the mixer loads: its gallery of cats, its sampler
of kittens and its genes. Making them from a trained run is kitten_mixer.ship's job."""
