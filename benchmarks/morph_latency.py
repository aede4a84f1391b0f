"""Morph latency: how long `KittenMixer.interpolate` takes to morph one cat into another.

One morph encodes two photos and decodes 11 steps (`interpolate(a, b, steps=11)`), photo
preparation and PIL output included. Encoding the two photos and decoding the 11 codes are
also timed alone, to show where the time goes. It ends with the README's sentence.

    python benchmarks/morph_latency.py                    # the shipped default model
    python benchmarks/morph_latency.py --model runs/my-run --repeats 100 --threads 2

Without --model and without a shipped default model, it times a freshly initialised v6 network
(same architecture, so the same cost) and says so. For a decoder of resize-convolutions, which
KittenMixer runs folded into transposed convolutions, decoding unfolded is timed too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from common import prepare_threads
from PIL import Image

from kitten_mixer import PRESETS, VAE, KittenMixer
from kitten_mixer.mixer import DEFAULT_MODEL

STEPS = 11


def load_mixer(path: str | None) -> tuple[KittenMixer, str]:
    """The model to time, and a line saying which it is."""
    if path is not None:
        return KittenMixer.load(path), f"model: {path}"
    if DEFAULT_MODEL.is_dir():
        return KittenMixer.load(), f"model: the shipped default ({DEFAULT_MODEL})"
    torch.manual_seed(0)
    model = VAE.from_config(PRESETS["v6"].model)
    return KittenMixer(model), ("model: no shipped default model found; timing a freshly "
                                "initialised v6 VAE (same architecture, same cost)")


def time_ms(work: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    """Wall milliseconds of each of `repeats` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        work()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    return times


def p90(times: list[float]) -> float:
    return float(np.percentile(times, 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a saved-model folder (default: the shipped model)")
    parser.add_argument("--repeats", type=int, default=50, help="timed morphs (default: 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed morphs first")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    prepare_threads(args.threads, "high")

    mixer, which = load_mixer(args.model)
    rng = np.random.default_rng(0)
    height, width = mixer.image_size
    a, b = (Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
            for _ in range(2))
    codes = torch.randn(STEPS, mixer.latent_dims)

    def encode_two() -> None:  # as interpolate does: one photo at a time
        mixer.encode(a)
        mixer.encode(b)

    timings = {
        f"morph (encode 2 + decode {STEPS})": time_ms(
            lambda: mixer.interpolate(a, b, steps=STEPS), args.repeats, args.warmup),
        "encode 2 only": time_ms(encode_two, args.repeats, args.warmup),
        f"decode {STEPS} only": time_ms(lambda: mixer.decode(codes), args.repeats, args.warmup),
    }
    if mixer.decoder is not mixer.model.decoder:  # a resize-convolution decoder, folded
        timings[f"decode {STEPS} tensors, folded"] = time_ms(
            lambda: mixer.decode_tensor(codes), args.repeats, args.warmup)
        with torch.inference_mode():
            timings[f"decode {STEPS} tensors, unfolded"] = time_ms(
                lambda: mixer.model.decode(codes), args.repeats, args.warmup)

    print(which)
    print(f"{args.repeats} repeats after {args.warmup} warm-up, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print(f"{'what':<28} {'median ms':>10} {'p90 ms':>8}")
    for what, times in timings.items():
        print(f"{what:<28} {statistics.median(times):>10.2f} {p90(times):>8.2f}")
    morphs = next(iter(timings.values()))
    model = "the shipped model" if args.model is None else args.model
    print(f"\nREADME: one morph with {model} (encode 2 photos, decode {STEPS} steps, PIL "
          f"images out) takes **{statistics.median(morphs):.1f} ms** median "
          f"(p90 {p90(morphs):.1f} ms) on {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
