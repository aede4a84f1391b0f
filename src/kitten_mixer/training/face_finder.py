"""Training the face finder from the data we have: training faces pasted into windows and into
whole synthetic photos, the labelled photos' faces and their windows without a face, pictures
made in code that hold no cat, and the finder's own false finds on all of these. The networks
are trained in turn: the proposals, the check, then the last two checks on what the first two
find (the last one reads ImageNet-trained filters, EfficientNet-Lite1's, and learns only how to
read them)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from kitten_mixer.data import load_faces
from kitten_mixer.faces.learned import MAX_PROPOSALS, FaceFinder
from kitten_mixer.faces.networks import (
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
from kitten_mixer.training.composites import make_scene
from kitten_mixer.training.face_batches import draw_batch, fit
from kitten_mixer.training.face_data import (
    FaceWindows,
    Photos,
    empty_windows,
    face_windows,
    load_photos,
    mine,
    mine_both,
    texture_photos,
    to_float,
)
from kitten_mixer.training.face_scenes import jpeg_like
from kitten_mixer.training.lite_readout import fit_readout
from kitten_mixer.training.textures import KINDS

log = logging.getLogger(__name__)

# Steps of a batch of windows (face_batches.py): the proposals before and after mining their
# false finds; the checks after mining the proposals' false finds, then twice after mining the
# whole finder's.
PROPOSAL_STEPS = (3000, 1500)
REFINE_STEPS = (3000, 1000, 1000)
# The last check: after mining the first two networks' false proposals and finds, then after
# mining the whole finder's (the last check included).
VERIFY_STEPS = (2000, 1000)
# The last check sees faces at 64 pixels, but a small face in a photo has fewer: this share of
# its windows (faces or not) are drawn from fewer pixels, so that blur is no sign of either.
COARSE = 0.5
# The fourth check's read-out learns from this many batches of the last check's windows, their
# features computed once (the ImageNet filters under it stay as they are), for this many passes.
LITE_BATCHES = 300
LITE_EPOCHS = 30
# Synthetic photos, and pictures made in code, made once for every network.
SCENES = 1200
TEXTURES = 1500
# Windows cut around each labelled face and each synthetic photo's face.
REAL_WINDOWS = 60
SCENE_WINDOWS = 10
# Fresh pictures made in code tried at the end, for the log.
CALIBRATION = 300
# Thresholds while mining: low, so that the near misses are learned too.
MINE_PROPOSAL = 0.3
MINE_FACE = 0.2
MINE_VERIFY = 0.2


def _scenes(faces: torch.Tensor, photos: Photos, count: int, rng: np.random.Generator) -> Photos:
    """`count` synthetic photos on backgrounds of the labelled photos and of KINDS."""
    pairs = photos.pairs()
    made = [make_scene(faces, pairs, rng, KINDS) for _ in range(count)]
    return Photos([s.image for s in made], [s.squares for s in made],
                  [np.radians(s.tilts) for s in made])


def _mine_all(finder: FaceFinder, sources: Photos, size: int, context: float,
              whole: bool) -> torch.Tensor:
    # The checks see the best MAX_PROPOSALS proposals of a photo; the proposals learn from more.
    found = mine(finder, sources, size, context, whole,
                 200 if size == PROPOSAL_WINDOW else MAX_PROPOSALS)
    log.info("%d false %s mined at %d pixels", len(found), "finds" if whole else "proposals",
             size)
    return found


def _mine_both(finder: FaceFinder, sources: Photos, size: int, context: float
               ) -> list[torch.Tensor]:
    """`_mine_all`'s false proposals and false finds of the last check's size, in one pass."""
    found = list(mine_both(finder, sources, size, context))
    log.info("%d false proposals and %d false finds mined at %d pixels", len(found[0]),
             len(found[1]), size)
    return found


def noise_check(finder: FaceFinder, rng: np.random.Generator) -> int:
    """How many of CALIBRATION fresh pictures made in code (of the kinds learned from, drawings
    among them) get a face: logged, for the record of a training."""
    pictures = texture_photos(CALIBRATION, KINDS, rng).images
    scores = [max((face[3] for face in finder.candidates(picture, MINE_FACE)), default=0.0)
              for picture in pictures]
    passed = sum(s >= finder.face_threshold for s in scores)
    log.info("%d of %d fresh pictures made in code get a face (the highest score %.3f, the "
             "threshold %.2f)", passed, len(scores), max(scores), finder.face_threshold)
    return passed


def _windows(photos: Photos, scenes: Photos, textures: Photos, size: int, context: float,
             empty_per_photo: tuple[int, int, int], rng: np.random.Generator
             ) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]], list[FaceWindows]]:
    """One network's windows: backgrounds to paste faces on, windows without a face (this many
    per labelled photo, synthetic photo and picture) and windows around real faces."""
    backgrounds = torch.cat([empty_windows(photos, 30, size, context, rng),
                             empty_windows(scenes, 10, size, context, rng),
                             empty_windows(textures, 8, size, context, rng)])
    empty = {name: [empty_windows(source, count, size, context, rng)]
             for name, source, count in zip(("photos", "scenes", "textures"),
                                            (photos, scenes, textures), empty_per_photo)}
    real = [face_windows(photos, REAL_WINDOWS, size, context, rng),
            face_windows(scenes, SCENE_WINDOWS, size, context, rng)]
    return backgrounds, empty, real


class Sources(NamedTuple):
    """What every network learns from: training faces (uint8), the labelled photos, synthetic
    photos, pictures made in code, and the photos false finds are mined on."""

    faces: torch.Tensor
    photos: Photos
    scenes: Photos
    textures: Photos
    minable: Photos


def make_sources(cats_zip: str | os.PathLike, photos_zip: str | os.PathLike,
                 boxes_json: str | os.PathLike, rng: np.random.Generator) -> Sources:
    """The sources of a training, drawn from `rng` (the same ones for the same seed)."""
    began = time.perf_counter()
    photos = load_photos(photos_zip, boxes_json)  # first: a bad box file fails at once
    split = load_faces(cats_zip).split()
    faces = jpeg_like(torch.cat([split["train"].images, split["val"].images]), 0.3, rng)
    scenes = _scenes(faces, photos, SCENES, rng)
    textures = texture_photos(TEXTURES, KINDS, rng)
    # Mined on every labelled photo (with its mirror), a third of the synthetic photos, and
    # apart from them, every picture made in code.
    minable = photos + Photos(scenes.images[::3], scenes.squares[::3])
    log.info("%d faces, %d photos with their mirrors, %d synthetic photos, %d pictures (%.0f s)",
             len(faces), len(photos.images), len(scenes.images), len(textures.images),
             time.perf_counter() - began)
    return Sources(faces, photos, scenes, textures, minable)


def train_finder(cats_zip: str | os.PathLike, photos_zip: str | os.PathLike,
                 boxes_json: str | os.PathLike, out: str | os.PathLike, seed: int = 0) -> Path:
    """Train the face finder's networks and save them to `out` (a .safetensors file).

    Faces come from the training and validation faces of `cats_zip` (tight 64x64 crops; its
    test split is left for measuring); real faces, photos without faces and the finder's false
    finds from the photos of `photos_zip` named in `boxes_json` (and no other photo: keep the
    test photos out of it); the rest is made in code. About two hours on one thread of a shared
    2-core CPU (docs/faces.md); the shipped weights are seed 0's.
    """
    began = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    sources = make_sources(cats_zip, photos_zip, boxes_json, rng)
    finder = _as_saved(train_checks(sources, gen, rng))
    mined = _first_finds(finder, sources)
    finder = train_verify(finder, sources, seed, mined)
    finder.lite = train_lite(finder, sources, seed, mined)
    finder.refine_lite = train_refine_lite(finder, sources, seed)
    noise_check(finder, np.random.default_rng([seed, 2]))
    finder.save(out)
    log.info("saved %s (%.0f s in all)", out, time.perf_counter() - began)
    return Path(out)


def train_checks(sources: Sources, gen: torch.Generator, rng: np.random.Generator
                 ) -> FaceFinder:
    """The proposal network and the check, trained in turn, each also on its own false finds."""
    faces, photos, scenes, textures, _ = sources
    # The proposals see faces about 24 pixels wide: shrink them first, as the pyramid does.
    small = F.interpolate(to_float(faces), size=32, mode="bilinear", antialias=True)
    proposal, refine = ProposalNet(), RefineNet()
    finder = FaceFinder(proposal, refine, MINE_PROPOSAL, MINE_FACE)
    size, context = PROPOSAL_WINDOW, 1.0
    backgrounds, empty, real = _windows(photos, scenes, textures, size, context, (700, 100, 80),
                                        rng)
    fit(proposal, PROPOSAL_STEPS[0], small, backgrounds, real, empty, size, context, gen)
    for name, mined_on in _mined_on(sources):
        empty[name] = [_mine_all(finder, mined_on, size, context, whole=False)]
    fit(proposal, PROPOSAL_STEPS[1], small, backgrounds, real, empty, size, context, gen,
        lr=5e-4)

    _train_refine(finder, sources, gen, rng)
    return FaceFinder(proposal, refine)


def _mined_on(sources: Sources) -> tuple[tuple[str, Photos], ...]:
    """The photos false finds are mined on, by the names of their banks of windows."""
    return ("mined", sources.minable), ("mined pictures", sources.textures)


def _train_refine(finder: FaceFinder, sources: Sources, gen: torch.Generator,
                  rng: np.random.Generator) -> None:
    """`finder.refine` trained on the proposals' false finds, then twice also on the whole
    finder's (`finder` at the mining thresholds)."""
    size, context, pixels = REFINE_WINDOW, REFINE_CONTEXT, to_float(sources.faces)
    backgrounds, empty, real = _windows(sources.photos, sources.scenes, sources.textures, size,
                                        context, (200, 30, 30), rng)
    for name, photos in _mined_on(sources):
        empty[name] = [_mine_all(finder, photos, size, context, whole=False)]
    for stage, steps in enumerate(REFINE_STEPS):
        if stage:  # the whole finder's false finds so far
            for name, photos in _mined_on(sources):
                empty[name].append(_mine_all(finder, photos, size, context, whole=True))
        fit(finder.refine, steps, pixels, backgrounds, real, empty, size, context, gen,
            lr=5e-4 if stage else 2e-3)


def train_refine_lite(finder: FaceFinder, sources: Sources, seed: int = 0) -> LiteRefine:
    """The checking network's twin on ImageNet's filters (`LiteRefine`), trained as the checking
    network is, on the finder's proposals, with only its head learned. Its own random numbers,
    so that it can be trained again on a finished finder."""
    gen = torch.Generator().manual_seed(seed + 4)
    rng = np.random.default_rng([seed, 4])
    with torch.random.fork_rng():  # its head's first weights, whatever ran before
        torch.manual_seed(seed + 4)
        twin = LiteRefine.from_imagenet()
    _train_refine(FaceFinder(finder.proposal, twin, MINE_PROPOSAL, MINE_FACE), sources, gen, rng)
    return twin.eval()


def _as_saved(finder: FaceFinder) -> FaceFinder:
    """The finder with its weights rounded as `FaceFinder.save` stores them (16-bit floats):
    the last check then learns from what the saved finder finds, and training it again on the
    saved networks (`train_verify`) gives the same weights."""
    with torch.no_grad():
        for net in finder.networks().values():
            for value in net.state_dict().values():
                value.copy_(value.half().float())
    return finder


def _miner(finder: FaceFinder) -> FaceFinder:
    """The finder's first two networks at their mining thresholds."""
    return FaceFinder(finder.proposal, finder.refine, MINE_PROPOSAL, MINE_FACE)


def _first_finds(finder: FaceFinder, sources: Sources) -> dict[str, list[torch.Tensor]]:
    """The first two networks' false proposals and finds (at their mining thresholds) at the
    last checks' size, on the photos and on the pictures: mined once for both last checks."""
    miner = _miner(finder)
    return {name: _mine_both(miner, photos, VERIFY_WINDOW, VERIFY_CONTEXT)
            for name, photos in _mined_on(sources)}


def _last_windows(finder: FaceFinder, sources: Sources, rng: np.random.Generator,
                  mined: dict[str, list[torch.Tensor]] | None = None):
    """The windows the last two checks learn from (`_windows`'s, with the first two networks'
    false proposals and finds: `mined` if given, `_first_finds`' otherwise)."""
    backgrounds, empty, real = _windows(sources.photos, sources.scenes, sources.textures,
                                        VERIFY_WINDOW, VERIFY_CONTEXT, (200, 30, 30), rng)
    mined = mined or _first_finds(finder, sources)
    empty.update({name: list(banks) for name, banks in mined.items()})
    return backgrounds, empty, real


def train_verify(finder: FaceFinder, sources: Sources, seed: int = 0,
                 mined: dict[str, list[torch.Tensor]] | None = None) -> FaceFinder:
    """The last check, trained on faces at the model's size against what the finder's first
    two networks propose and find where there is no face (`mined`: `_first_finds`'); then on
    the whole finder's false finds. Its own random numbers, so that it can be trained again on
    a finished finder."""
    gen = torch.Generator().manual_seed(seed + 1)
    rng = np.random.default_rng([seed, 1])
    backgrounds, empty, real = _last_windows(finder, sources, rng, mined)
    size, context = VERIFY_WINDOW, VERIFY_CONTEXT
    with torch.random.fork_rng():  # its first weights, whatever ran before
        torch.manual_seed(seed + 1)
        verify = VerifyNet()
    pixels = to_float(sources.faces)
    fit(verify, VERIFY_STEPS[0], pixels, backgrounds, real, empty, size, context, gen,
        coarse=COARSE)
    miner = _miner(finder)
    miner.verify, miner.verify_threshold = verify, MINE_VERIFY
    for name, photos in _mined_on(sources):
        empty[name].append(_mine_all(miner, photos, size, context, whole=True))
    fit(verify, VERIFY_STEPS[1], pixels, backgrounds, real, empty, size, context, gen,
        lr=5e-4, coarse=COARSE)
    return FaceFinder(finder.proposal, finder.refine, finder.proposal_threshold,
                      finder.face_threshold, verify)


def train_lite(finder: FaceFinder, sources: Sources, seed: int = 0,
               mined: dict[str, list[torch.Tensor]] | None = None) -> LiteCheck:
    """The fourth check: ImageNet's filters (`LiteCheck.from_imagenet`) and a read-out of their
    means, learned from the last check's kind of windows (faces at the model's size against
    what the finder's first two networks propose and find where there is no face). Its own
    random numbers, so that it can be trained again on a finished finder."""
    began = time.perf_counter()
    gen = torch.Generator().manual_seed(seed + 3)
    rng = np.random.default_rng([seed, 3])
    backgrounds, empty, real = _last_windows(finder, sources, rng, mined)
    with torch.random.fork_rng():  # its read-out's first weights, whatever ran before
        torch.manual_seed(seed + 3)
        check = LiteCheck.from_imagenet()
    pixels, features, labels = to_float(sources.faces), [], []
    with torch.no_grad():
        for _ in range(LITE_BATCHES):
            images, label, known, *_ = draw_batch(pixels, backgrounds, real, empty,
                                                  VERIFY_WINDOW, VERIFY_CONTEXT, gen, COARSE)
            features.append(check.features(images[known]))
            labels.append(label[known])
    log.info("%d windows seen through ImageNet's filters (%.0f s)", sum(map(len, labels)),
             time.perf_counter() - began)
    loss = fit_readout(check.head, torch.cat(features), torch.cat(labels), LITE_EPOCHS, gen)
    log.info("LiteCheck: %d passes, loss %.4f (%.0f s)", LITE_EPOCHS, loss,
             time.perf_counter() - began)
    return check.eval()
