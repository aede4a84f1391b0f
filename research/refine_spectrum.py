"""Which part of the decoder draws the fine detail: its images before and after the refine block.

The refine block (`VAE(refine=N)`: three 3x3 convolutions at full size, added to the image's
logits) is the decoder's last word on fine detail. For each model this prints, on the test
split, for reconstructions and 50/50 arc mixes, the images' mean amplitude spectrum over the
photos' (three_judges.stripes) and its mean over the highest frequencies (at least 16 cycles
per face: fur, grain and hatching), once for the image that enters the block and once for the
image that leaves it. With --bypass it also writes a copy of each model whose refine block
passes its input through (its last convolution zeroed), for three_judges to judge.

    python research/refine_spectrum.py src/kitten_mixer/weights/default runs/perceptual
    python research/refine_spectrum.py runs/perceptual --bypass /tmp/no-refine
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from three_judges import MIXES, arc_mixes, spectrum_ratio, stripes  # noqa: E402

from kitten_mixer.data import training_splits  # noqa: E402
from kitten_mixer.mixer import KittenMixer  # noqa: E402
from kitten_mixer.model import Refine  # noqa: E402

HIGH = 16  # cycles per face: the fine detail


def high_ratio(photos: torch.Tensor, images: torch.Tensor) -> float:
    """The mean, over frequencies of at least HIGH cycles, of the images' amplitude over the
    photos'."""
    ratio, radius = spectrum_ratio(photos, images)
    return float(ratio[radius >= HIGH].mean())


def refine_block(mixer: KittenMixer) -> Refine:
    blocks = [m for m in mixer.model.decoder if isinstance(m, Refine)]
    if len(blocks) != 1:
        raise SystemExit(f"{mixer.folder}: the decoder has no refine block")
    return blocks[0]


def spectra(mixer: KittenMixer, folder: str, data: str) -> list[str]:
    photos = training_splits(mixer.config, data, (64, 64))["test"].images.float() / 255
    seen: dict[str, list[torch.Tensor]] = {"before": [], "after": []}

    def keep(module: Refine, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        seen["before"].append(inputs[0].float())
        seen["after"].append(output.float())

    hook = refine_block(mixer).register_forward_hook(keep)  # decoding goes in batches
    lines = []
    with torch.no_grad():
        means = mixer.posterior(photos)[0]
        for what, decode in (("reconstructions", lambda: mixer.decode_tensor(means)),
                             ("arc mixes", lambda: arc_mixes(mixer, means, MIXES, 0))):
            for batches in seen.values():
                batches.clear()
            decode()
            for where in ("before", "after"):
                images = torch.sigmoid(torch.cat(seen[where]))
                lines.append(f"| {folder} | {what} | {where} | {stripes(photos, images):.2f} "
                             f"| {high_ratio(photos, images):.2f} |")
    hook.remove()
    return lines


def bypass(mixer: KittenMixer, folder: str, out: Path) -> Path:
    """A copy of the model at `folder` (loaded as `mixer`) whose refine block adds nothing:
    the block's last convolution zeroed in the weights file, which keeps its dtype."""
    target = out / Path(folder).name
    target.mkdir(parents=True, exist_ok=True)
    source = Path(folder) / "model.safetensors"
    with safe_open(source, "pt") as f:
        metadata = f.metadata()
    tensors = load_file(source)
    block = refine_block(mixer)
    index = list(mixer.model.decoder).index(block)
    last = len(block.body) - 1  # the block ends in its last convolution
    for kind in ("weight", "bias"):
        tensors[f"decoder.{index}.body.{last}.{kind}"].zero_()
    save_file(tensors, target / "model.safetensors", metadata=metadata)
    shutil.copy(Path(folder) / "config.json", target / "config.json")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="saved-model or run folders")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data" / "cats.zip"))
    parser.add_argument("--bypass", type=Path, help="write the copies without refining here")
    args = parser.parse_args()
    print("| model | images | refine block | stripes | amplitude at >= 16 cycles |")
    print("|---|---|---|---|---|")
    for folder in args.models:
        mixer = KittenMixer.load(folder)
        print("\n".join(spectra(mixer, folder, args.data)), flush=True)
        if args.bypass:
            print(f"wrote {bypass(mixer, folder, args.bypass)}", file=sys.stderr)


if __name__ == "__main__":
    main()
