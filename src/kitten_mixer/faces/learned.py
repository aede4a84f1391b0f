"""The learned face finder: a small network proposes face squares all over an image pyramid, a
second one checks each proposal twice (with a twin that looks through ImageNet-trained
filters), refines its square and reads the head's tilt, a third looks at each face so found at
the model's own size, and a fourth asks what the ImageNet-trained filters see there."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from kitten_mixer.errors import ModelFileError
from kitten_mixer.faces.box import overlap, squares_to_boxes, suppress
from kitten_mixer.faces.networks import (
    PROPOSAL_STRIDE,
    PROPOSAL_WINDOW,
    REFINE_CONTEXT,
    REFINE_WINDOW,
    VERIFY_CONTEXT,
    VERIFY_WINDOW,
    LiteCheck,
    LiteRefine,
    ProposalNet,
    RefineNet,
    VerifyNet,
)
from kitten_mixer.storage import read_tensors, write_tensors

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "faces" / "finder.safetensors"
# JPEGs decode at 1/2, 1/4 or 1/8 scale while both sides stay at least this long: the pyramid's
# top level is smaller still, so nothing is lost, and a 12-megapixel photo costs no more.
DECODE_SIDE = 320
# The smallest face searched for, as a share of the photo's longest side (the smallest labelled
# face is about 0.09); smaller windows mostly fire on fur and carpet, and cost the most.
MIN_FACE = 0.075
# Pyramid levels this far apart: the proposal network's square correction covers the gap.
SCALE_STEP = 1.5
# Each level is padded by this many replicated pixels, so a face cut by the frame is still seen.
LEVEL_PAD = 6
# Proposals overlapping a better one this much are dropped; the best few go to the second net.
PROPOSAL_IOU = 0.5
MAX_PROPOSALS = 48
LEVEL_CANDIDATES = 300
# Faces overlapping a better one this much, or lying this much inside it (or it inside them),
# are the same face.
FACE_IOU = 0.3
FACE_INSIDE = 0.6
# The networks that look through EfficientNet-Lite1's filters, and the prefix under which a saved
# finder keeps those filters once for both.
LITE_NETS = ("lite", "refine_lite")
SHARED = "imagenet."
# Proposals scoring at least this go on to the checks. A face is kept when the geometric mean
# of its two checks reaches the face threshold, and the last two checks agree. All were chosen
# together on the photos of places a finder never saw (labels/photo_groups.json, each part
# measured by a finder trained on the other), with noise pictures of a seed the benchmark does
# not use (11): see docs/faces.md. With the first twins tried the face threshold mattered
# little (0.5 to 0.7 found the same faces there; 0.7 left the fewest false boxes); with the
# recipe's own, 0.6 finds two more home faces (68 of 75 against 66) and lets one noise picture
# in a thousand through (marbled waves scoring 0.64), 0.7 none. The last check at 0.5 instead
# of 0.3 refuses one more noise picture there at no face, and the fourth at 0.5 instead of 0.7
# keeps one more home face (68 of 75 with the first twins tried, 65 to 68 over five twins'
# training draws; the others 47 of 48) for one more noise picture (1 of 1,000).
PROPOSAL_THRESHOLD = 0.3
# The twin is asked about the squares the checking network gives at least this logit (a chance
# of 0.018): three in five of the proposals are below, and of the 8,412 proposals of the
# development photos and 200 noise pictures only one below it would have passed the first check
# with the twin's say (it costs as much as the checking network: 24 ms a photo for all 48).
TWIN_GATE = -4.0
FACE_THRESHOLD = 0.7
VERIFY_THRESHOLD = 0.5
LITE_THRESHOLD = 0.5
# A guess where a face is, when none was found: of the squares the first check scores best,
# this many are checked again, and the guess is the one the two checks score best, if at least
# this.
GUESS_CHECKED = 8
GUESS_THRESHOLD = 0.02


class FaceFinder:
    """The networks and their thresholds: `find` gives face squares in an image's pixels. The
    checking network's twin (`refine_lite`) and the last two checks (`verify` at 64 pixels,
    `lite` with ImageNet's filters) are optional: finders saved before they existed have none."""

    def __init__(self, proposal: ProposalNet, refine: RefineNet,
                 proposal_threshold: float = PROPOSAL_THRESHOLD,
                 face_threshold: float = FACE_THRESHOLD, verify: VerifyNet | None = None,
                 verify_threshold: float = VERIFY_THRESHOLD, lite: LiteCheck | None = None,
                 lite_threshold: float = LITE_THRESHOLD, refine_lite: LiteRefine | None = None):
        self.proposal, self.refine = proposal.eval(), refine.eval()
        self.verify = verify.eval() if verify is not None else None
        self.lite = lite.eval() if lite is not None else None
        self.refine_lite = refine_lite.eval() if refine_lite is not None else None
        self.proposal_threshold, self.face_threshold = proposal_threshold, face_threshold
        self.verify_threshold, self.lite_threshold = verify_threshold, lite_threshold

    def networks(self) -> dict[str, torch.nn.Module]:
        """The finder's networks by the names their weights are saved under."""
        nets = {"proposal": self.proposal, "refine": self.refine}
        if self.verify is not None:
            nets["verify"] = self.verify
        if self.lite is not None:
            nets["lite"] = self.lite
        if self.refine_lite is not None:
            nets["refine_lite"] = self.refine_lite
        return nets

    @classmethod
    def load(cls, path: str | os.PathLike = WEIGHTS) -> FaceFinder:
        """The finder saved at `path` (safetensors: no code runs while loading)."""
        tensors, metadata = read_tensors(path)
        try:
            settings = json.loads(metadata.get("thresholds", "{}"))
            proposal, refine = ProposalNet(), RefineNet()
            proposal.load_state_dict(_part(tensors, "proposal."))
            refine.load_state_dict(_part(tensors, "refine."))
            checks: dict[str, torch.nn.Module] = {}
            for name, net in (("verify", VerifyNet), ("lite", LiteCheck),
                              ("refine_lite", LiteRefine)):
                if any(key.startswith(f"{name}.") for key in tensors):
                    checks[name] = net()
                    shared = _part(tensors, SHARED) if name in LITE_NETS else {}
                    checks[name].load_state_dict({**shared, **_part(tensors, f"{name}.")})
            finder = cls(proposal, refine, **checks, **settings)
        except (RuntimeError, ValueError, TypeError) as e:
            raise ModelFileError(f"{path}: not a face finder's weights ({e})") from None
        # channels_last: the same numbers, and the proposals take 27 ms a photo instead of 42
        # on one thread of the project's CPU (benchmarks/upload_speed.py).
        for net in finder.networks().values():
            net.to(memory_format=torch.channels_last)
        return finder

    def save(self, path: str | os.PathLike) -> None:
        """The networks as 16-bit floats (half the size; the scores move by under 0.001). The
        ImageNet filters that the fourth check and the twin both look through are stored once
        when they are the same (a sixth of the file), as `imagenet.*`."""
        nets = self.networks()
        halves = {name: {key: value.detach().half().contiguous()
                         for key, value in net.state_dict().items()}
                  for name, net in nets.items()}
        lite = [name for name in LITE_NETS if name in nets]
        shared = _all_the_same([{key: halves[name][key] for key in nets[name].filters()}
                                for name in lite])
        tensors = {f"{name}.{key}": value for name, values in halves.items()
                   for key, value in values.items() if not (name in lite and key in shared)}
        tensors.update({f"{SHARED}{key}": value for key, value in shared.items()})
        thresholds = {"proposal_threshold": self.proposal_threshold,
                      "face_threshold": self.face_threshold}
        if self.verify is not None:
            thresholds["verify_threshold"] = self.verify_threshold
        if self.lite is not None:
            thresholds["lite_threshold"] = self.lite_threshold
        write_tensors(path, tensors, metadata={"thresholds": json.dumps(thresholds)})

    @torch.no_grad()
    def propose(self, image: Image.Image,
                limit: int = MAX_PROPOSALS) -> tuple[np.ndarray, np.ndarray]:
        """The best `limit` squares [N, 3] (centre x, centre y, side) that may hold a face,
        and their scores."""
        width, height = image.size
        scale = min(1.0, PROPOSAL_WINDOW / (MIN_FACE * max(width, height)))
        squares, scores = [], []
        level = image
        while min(width, height) * scale >= PROPOSAL_WINDOW:
            size = (round(width * scale), round(height * scale))
            level = level.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
            found = self._propose_level(level, scale)
            if found is not None:
                squares.append(found[0])
                scores.append(found[1])
            scale /= SCALE_STEP
        if not squares:
            return np.zeros((0, 3)), np.zeros(0)
        squares_all, scores_all = np.concatenate(squares), np.concatenate(scores)
        keep = suppress(squares_all, scores_all, PROPOSAL_IOU)[:limit]
        return squares_all[keep], scores_all[keep]

    def _propose_level(self, level: Image.Image,
                       scale: float) -> tuple[np.ndarray, np.ndarray] | None:
        pixels = np.pad(np.asarray(level), ((LEVEL_PAD,) * 2, (LEVEL_PAD,) * 2, (0, 0)), "edge")
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
        out = self.proposal(x)[0].numpy()
        score = 1 / (1 + np.exp(-out[0]))
        rows, cols = np.nonzero(score >= self.proposal_threshold)
        if not len(rows):
            return None
        if len(rows) > LEVEL_CANDIDATES:  # the suppression below costs the square of these
            best = np.argsort(-score[rows, cols])[:LEVEL_CANDIDATES]
            rows, cols = rows[best], cols[best]
        dx, dy, ds = out[1:, rows, cols]
        half = PROPOSAL_WINDOW / 2
        cx = cols * PROPOSAL_STRIDE - LEVEL_PAD + half + dx * PROPOSAL_WINDOW
        cy = rows * PROPOSAL_STRIDE - LEVEL_PAD + half + dy * PROPOSAL_WINDOW
        side = PROPOSAL_WINDOW * np.exp(np.clip(ds, -1, 1))
        squares = np.stack([cx, cy, side], axis=1) / scale
        found = score[rows, cols]
        keep = suppress(squares, found, PROPOSAL_IOU)
        return squares[keep], found[keep]

    @torch.no_grad()
    def check(self, image: Image.Image,
              squares: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each proposed square: its refined square, its face score and the head's tilt in
        degrees. With the checking network's twin, the score is the two networks' mean logit
        (the geometric mean of their odds): a face both believe in. The twin is not asked about
        squares the checking network rules out (their score stays its own)."""
        if not len(squares):
            return np.zeros((0, 3)), np.zeros(0), np.zeros(0)
        seen = windows(image, squares, REFINE_WINDOW, REFINE_CONTEXT)
        seen = seen.contiguous(memory_format=torch.channels_last)
        out = self.refine(seen).numpy()
        logit = out[:, 0].copy()
        asked = logit >= TWIN_GATE
        if self.refine_lite is not None and asked.any():
            twin = self.refine_lite(seen[torch.from_numpy(asked)])[:, 0].numpy()
            logit[asked] = (logit[asked] + twin) / 2
        score = 1 / (1 + np.exp(-logit))
        side = squares[:, 2]
        refined = np.stack([squares[:, 0] + out[:, 1] * side, squares[:, 1] + out[:, 2] * side,
                            side * np.exp(np.clip(out[:, 3], -1, 1))], axis=1)
        angle = np.degrees(np.arctan2(out[:, 4], out[:, 5]))
        return refined, score, angle

    @torch.no_grad()
    def verified(self, image: Image.Image, squares: np.ndarray) -> np.ndarray:
        """Whether each square passes the last two checks (all do for a finder without them):
        both see the face's crop square at 64 pixels."""
        passed = np.ones(len(squares), dtype=bool)
        checks = [(net, threshold) for net, threshold in ((self.verify, self.verify_threshold),
                                                          (self.lite, self.lite_threshold))
                  if net is not None]
        if not checks or not len(squares):
            return passed
        seen = windows(image, squares, VERIFY_WINDOW, VERIFY_CONTEXT)
        seen = seen.contiguous(memory_format=torch.channels_last)
        for net, threshold in checks:
            passed &= 1 / (1 + np.exp(-net(seen).numpy()[:, 0])) >= threshold
        return passed

    def find(self, image: Image.Image) -> list[tuple[float, float, float, float, float]]:
        """The faces in an image as (centre x, centre y, side, score, tilt), best first. A face
        is kept when the geometric mean of its two checks reaches the face threshold and the last
        two checks agree; its score is that mean moved so that the threshold reads 0.5."""
        return self._shown(self.candidates(image, self.face_threshold))

    def look(self, image: Image.Image) -> tuple[list[tuple[float, float, float, float, float]],
                                                 tuple[float, float, float, float, float] | None]:
        """`find`'s faces and, when there are none, `guess`'s square, from one pass: the guess
        shares the pyramid's proposals and their first check, and costs only its second check
        of the few best squares."""
        checked = self.check(image, self.propose(image)[0])
        faces = self._kept(image, checked, self.face_threshold)
        return self._shown(faces), None if faces else self._guess(image, checked)

    def guess(self, image: Image.Image) -> tuple[float, float, float, float, float] | None:
        """Where a face most likely is when `find` keeps none: of the GUESS_CHECKED squares the
        first check scores best, the one whose two checks score best (at least
        GUESS_THRESHOLD), the last two checks not asked (what they refuse is mostly dark and
        turned faces), as `find`'s faces are given (its score the two checks' own); None if
        there is none. A place to start framing a face by hand, not a face."""
        return self._guess(image, self.check(image, self.propose(image)[0]))

    def _guess(self, image: Image.Image, checked: tuple[np.ndarray, ...]
               ) -> tuple[float, float, float, float, float] | None:
        best = np.argsort(-checked[1], kind="stable")[:GUESS_CHECKED]
        faces = self._kept(image, [part[best] for part in checked], GUESS_THRESHOLD,
                           last_checks=False)
        return faces[0] if faces else None

    def _shown(self, faces: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
        """Faces with their scores moved so that the face threshold reads 0.5."""
        shown = _shifted(np.array([f[3] for f in faces]), self.face_threshold)
        return [(*face[:3], p, face[4]) for face, p in zip(faces, shown)]

    def candidates(self, image: Image.Image, threshold: float, proposals: np.ndarray | None = None,
                   last_checks: bool = True) -> list[tuple[float, float, float, float, float]]:
        """The faces whose two checks' geometric mean (their score here) reaches `threshold`
        and whose last two checks reach their own thresholds (if `last_checks`), as (centre x,
        centre y, side, score, tilt), best first, duplicates dropped; from `proposals` if given
        (`propose`'s)."""
        proposals = self.propose(image)[0] if proposals is None else proposals
        return self._kept(image, self.check(image, proposals), threshold, last_checks)

    def _kept(self, image: Image.Image, checked: tuple[np.ndarray, ...], threshold: float,
              last_checks: bool = True) -> list[tuple[float, float, float, float, float]]:
        """`candidates` of the proposals' first check (`check`'s squares, scores and tilts)."""
        squares, first = checked[:2]
        # Checked again on its refined square, a face is better framed and scored: the score is
        # the geometric mean of both checks (over the first alone, on the development photos
        # not learned from: recall 0.91 instead of 0.88, first box right 0.95 instead of 0.90).
        maybe = first >= threshold ** 2
        squares, second, angle = self.check(image, squares[maybe])
        score = np.sqrt(first[maybe] * second)
        sure = score >= threshold
        squares, score, angle = squares[sure], score[sure], angle[sure]
        if last_checks:
            sure = self.verified(image, squares)
            squares, score, angle = squares[sure], score[sure], angle[sure]
        kept: list[int] = []
        boxes = squares_to_boxes(squares)
        for i in suppress(squares, score, 1.0):  # best first; duplicates dropped below
            if kept:
                better, box = boxes[kept], boxes[i:i + 1]
                # Inside a better face, or around one (the whole head, or the cat): the same.
                inside = max(overlap(box, better, inside=True).max(),
                             overlap(better, box, inside=True).max())
                if overlap(box, better).max() > FACE_IOU or inside > FACE_INSIDE:
                    continue
            kept.append(int(i))
        return [(*squares[i], score[i], angle[i]) for i in kept]


def _all_the_same(parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The tensors of `parts` when there are two or more and every one holds the same names and
    values; {} otherwise."""
    if len(parts) < 2:
        return {}
    first = parts[0]
    same = all(part.keys() == first.keys()
               and all(torch.equal(value, first[key]) for key, value in part.items())
               for part in parts[1:])
    return first if same else {}


def _shifted(score: np.ndarray, threshold: float) -> np.ndarray:
    """Scores moved on the logit scale so that the threshold reads 0.5: a face just kept scores
    a little over 0.5, a sure one near 1."""
    score = np.clip(score, 1e-7, 1 - 1e-7)
    odds = score / (1 - score) * (1 - threshold) / threshold
    return odds / (1 + odds)


def _part(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix):]: value.float() for key, value in tensors.items()
            if key.startswith(prefix)}


def windows(image: Image.Image, squares: np.ndarray, size: int, context: float) -> torch.Tensor:
    """The squares [N, 3], each enlarged by `context`, cut from the image and resized to
    size x size (antialiased); parts outside the photo repeat its edge. Floats [N, 3, size, size]
    in [0, 1]."""
    boxes = squares_to_boxes(squares * np.array([1.0, 1.0, context]))
    width, height = image.size
    # Past twice the photo's size there is nothing left to repeat; such squares are not faces.
    boxes = np.clip(boxes, -max(width, height), 2 * max(width, height))
    pad = int(math.ceil(max(0.0, -boxes[:, :2].min(), (boxes[:, 2] - width).max(),
                            (boxes[:, 3] - height).max())))
    if pad:
        image = Image.fromarray(np.pad(np.asarray(image), ((pad, pad), (pad, pad), (0, 0)), "edge"))
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    for i, box in enumerate(boxes + pad):
        out[i] = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR,
                                         box=tuple(box), reducing_gap=2.0))
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255


_default: FaceFinder | None = None
_lock = threading.Lock()


def default_finder() -> FaceFinder:
    """The finder shipped with the package, loaded once."""
    global _default
    with _lock:
        if _default is None:
            _default = FaceFinder.load()
        return _default
