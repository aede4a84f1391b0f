"""What the web app computes, apart from Streamlit: its cats, their map, morphs, blends, tuned
cats and uploads.

Everything here is plain Python, so it can be tested and timed without a browser. The app
loads one `Resources` per server (model, gallery cats, map, genes) and keeps each visitor's
own cats (uploads, new kittens) in that visitor's session and their kept kittens in the
kitten store (stored.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from kitten_mixer import faces as finder
from kitten_mixer.data import load_faces
from kitten_mixer.errors import ModelFileError, PhotoError
from kitten_mixer.faces import Box, crop_face, face_or_centre, is_face_crop
from kitten_mixer.images import enlarge, open_photo, png_bytes
from kitten_mixer.mixer import KittenMixer
from kitten_mixer.morph import DEFAULT_METHOD, Morph, interpolate_latents, mix_latents
from kitten_mixer.shipping.gallery import latent_map, load_gallery, pick_varied
from kitten_mixer.shipping.genes import Genes

# A photo gallery larger than this shows the most varied cats among them.
MAX_GALLERY = 240
# Uploads larger than this are refused before they are decoded.
MAX_UPLOAD_MB = 20
# An upload's photo offers at most this many faces to pick from, best first; the best is
# boxed in red, the others in blue.
MAX_FACES = 6
FACE_COLOURS = ((255, 64, 64), (40, 160, 255))
# How large cats are drawn on the page (the model's 64 pixels are enlarged, not invented).
ZOOM = 2
# The morph's steps: from one cat to the other, both included.
DEFAULT_STEPS, MAX_STEPS = 11, 21
# A gene slider's reach either way, in spreads of real cats, and its step.
GENE_REACH, GENE_STEP = 3.0, 0.1


@dataclass(frozen=True)
class Parent:
    """One parent of a kept kitten: its cat's key and name, and its share of the kitten. A
    parent that is no cat to show has the key "" and its `kind` says why: "upload" (an
    uploaded photo's cat, never stored) or "withdrawn" (a kitten its owner deleted)."""

    key: str
    name: str
    share: float
    kind: str = "cat"


@dataclass(frozen=True)
class Cat:
    """One cat the app can mix: its face (what the model sees) and its latent code."""

    key: str  # unique in a session: "g:<id>" gallery, "u:<hash>" upload ("u:<hash>:centre"
    #           when the face was not sought, "u:<hash>:<n>" its face n from 2 when picked,
    #           "u:<hash>:frame-<hash>" a square framed by hand, framing.py),
    #           "k:<seed>:<i>" new kitten, "s:<id>" a kitten in the store (kept by this
    #           visitor or by another)
    name: str
    code: torch.Tensor
    face: Image.Image
    origin: str  # "gallery", "upload", "kitten" (new) or "kept" (in the store)
    parents: tuple[Parent, ...] = ()  # a kept kitten's: the cats it was mixed or tuned from
    tuned: bool = False  # a kept kitten moved along the genes from its one parent
    photo: bool = False  # a kept uploaded cat: its code and its face as the model draws it

    @property
    def digest(self) -> str:
        """A fingerprint of the code: what a cached morph of this cat is filed under."""
        return code_digest(self.code)


def code_digest(code: torch.Tensor) -> str:
    """A fingerprint of a latent code."""
    return hashlib.blake2b(code.numpy().tobytes(), digest_size=16).hexdigest()


@dataclass
class Resources:
    """What one server loads once and shares between all visitors."""

    mixer: KittenMixer
    cats: list[Cat]
    places: np.ndarray  # [N, 2] in [0, 1]: each gallery cat's place on the latent map
    source: str  # "embedded" or the photo gallery's path

    def __post_init__(self):
        self._model_digest: str | None = None
        self.codes = torch.stack([cat.code for cat in self.cats])
        try:  # new kittens need the sampler shipped beside the model
            self.mixer.sampler  # noqa: B018 (loads and caches it)
            self.can_sample = True
        except ModelFileError:
            self.can_sample = False
        try:  # tuning needs the genes shipped beside the model
            self.genes: Genes | None = self.mixer.genes
        except ModelFileError:
            self.genes = None
        self.by_key = {cat.key: cat for cat in self.cats}
        # What a link calls each gallery cat: its short name, unless two cats share one.
        names = [cat.name for cat in self.cats]
        unique = len(set(names)) == len(names)
        self.link_ids = {cat.key: cat.name if unique else cat.key[2:] for cat in self.cats}
        self.by_link_id = {link_id: key for key, link_id in self.link_ids.items()}
        # Encoded once per server: the gallery's pictures and the map's tooltips.
        self.pngs = {cat.key: png_bytes(enlarge(cat.face, ZOOM)) for cat in self.cats}
        self.urls = {cat.key: data_url(cat.face) for cat in self.cats}

    @property
    def key(self) -> tuple[str, str]:
        """What tells these resources apart in a cache key: the model's folder and the
        gallery's source."""
        return str(self.mixer.folder), self.source

    @property
    def model_digest(self) -> str:
        """A fingerprint of the model, stored with every kept kitten: a kitten drawn by another
        model is encoded again from its picture before it mixes. Computed on first use (a
        kitten kept or opened), not at start-up."""
        if self._model_digest is None:
            self._model_digest = model_digest(self.mixer)
        return self._model_digest


def model_digest(mixer: KittenMixer) -> str:
    """A fingerprint of a model: of its saved files (the architecture and the weights), or of
    its weights when it was not loaded from a folder."""
    digest = hashlib.blake2b(digest_size=16)
    folder = mixer.folder
    if folder is not None and (folder / "model.safetensors").is_file():
        for name in ("config.json", "model.safetensors"):
            if (folder / name).is_file():
                digest.update((folder / name).read_bytes())
    else:
        for name, tensor in mixer.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "blake2b:" + digest.hexdigest()


def load_resources(model: str | os.PathLike | None = None,
                   gallery: str | os.PathLike | None = None) -> Resources:
    """The model and the gallery: the cats shipped with the model (decoded from their codes,
    with their precomputed map), or the photos in a folder or zip (`gallery`): faces are kept
    as they are, whole-scene photos cropped around their cat's face."""
    mixer = KittenMixer.load(model)
    if gallery is None:
        shipped = load_gallery(mixer.folder)
        faces = mixer.decode(shipped.codes)
        cats = [Cat(f"g:{i}", short_name(i), code, face, "gallery")
                for i, code, face in zip(shipped.ids, shipped.codes, faces)]
        places = shipped.map.numpy() if shipped.map is not None \
            else latent_map(shipped.codes).numpy()
        return Resources(mixer, cats, places, "embedded")
    photos = load_faces(gallery, mixer.image_size, find_faces=True)
    codes = mixer.posterior(photos.images)[0]
    keep = sorted(pick_varied(codes, MAX_GALLERY)) if len(codes) > MAX_GALLERY \
        else list(range(len(codes)))
    faces = photos.images[keep].permute(0, 2, 3, 1).numpy()
    cats = [Cat(f"g:{photos.names[i]}", short_name(photos.names[i]), codes[i],
                Image.fromarray(face), "gallery") for i, face in zip(keep, faces)]
    return Resources(mixer, cats, latent_map(codes[keep]).numpy(), str(gallery))


def short_name(name: str) -> str:
    return Path(name).stem[:24]


def place_on_map(resources: Resources, code: torch.Tensor, neighbours: int = 3) -> np.ndarray:
    """Where a new cat goes on the gallery's map: near the gallery cats nearest its code
    (a weighted mean of their places), since the map itself is not recomputed per visitor."""
    distance = (resources.codes - code).norm(dim=1)
    nearest = distance.argsort()[:neighbours]
    weights = 1.0 / (distance[nearest].double().numpy() + 1e-6)
    return (resources.places[nearest.numpy()] * weights[:, None]).sum(0) / weights.sum()


def morph(resources: Resources, a: Cat, b: Cat, steps: int = 11,
          method: str = DEFAULT_METHOD) -> Morph:
    """The morph from a to b: `steps` kittens, ends included, between the two cats' faces.
    Deterministic: codes are means."""
    return replace(resources.mixer.morph(a.code, b.code, steps, method), ends=(a.face, b.face))


def mix_one(resources: Resources, a: Cat, b: Cat, ratio: float,
            method: str = DEFAULT_METHOD) -> Image.Image:
    """One kitten, `ratio` (0 to 1) of it b and the rest a: the morph's kitten at t = ratio."""
    ratio = min(max(float(ratio), 0.0), 1.0)
    return blend(resources, [a, b], [1 - ratio, ratio], method)


def blend_code(resources: Resources, cats: list[Cat], shares: list[float],
               method: str = DEFAULT_METHOD) -> torch.Tensor:
    """The code of the kitten mixed from cats in these shares (any non-negative numbers, not
    all 0): the same spherical mix as a morph's, so two cats at (1 - t, t) give its step t."""
    return mix_latents(torch.stack([cat.code for cat in cats]), shares, method,
                       resources.mixer.centre)


def blend(resources: Resources, cats: list[Cat], shares: list[float],
          method: str = DEFAULT_METHOD) -> Image.Image:
    """The kitten mixed from cats in these shares (see `blend_code`)."""
    return resources.mixer.decode(blend_code(resources, cats, shares, method))[0]


def step_code(resources: Resources, a: Cat, b: Cat, step: int, steps: int,
              method: str = DEFAULT_METHOD) -> torch.Tensor:
    """The code of the morph's kitten number `step` (from 0) of `steps`: what it decodes."""
    return interpolate_latents(a.code, b.code, steps, method, resources.mixer.centre)[step]


def tuned_code(resources: Resources, cat: Cat, values: dict[int, float]) -> torch.Tensor:
    """The cat's code moved `values[i]` spreads along gene i."""
    if resources.genes is None:
        raise ModelFileError("this model has no genes")
    return resources.genes.tune(cat.code, values)


def tune(resources: Resources, cat: Cat, values: dict[int, float]) -> Image.Image:
    """The cat moved `values[i]` spreads along gene i (all 0: the cat as the model draws it)."""
    return resources.mixer.decode(tuned_code(resources, cat, values))[0]


def data_url(image: Image.Image, quality: int = 85) -> str:
    """A small JPEG as a data: URL, for a chart's tooltip."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass(frozen=True)
class Upload:
    """What became of one uploaded file: a cat (with the photo and the faces found shown), or
    the reason it could not be used. A photo with several cats stands for one of their faces,
    the one picked (the best at first)."""

    name: str
    cat: Cat | None = None
    preview: Image.Image | None = None  # the photo, small, with the faces' boxes drawn
    box: Box | None = None  # the box of the face the cat is
    error: str | None = None  # a PhotoError reason, or "too-large-upload"
    missed: bool = False  # the face was sought and not found: the photo's centre is used
    boxes: tuple[Box, ...] = ()  # every face found (at most MAX_FACES), best first
    faces: tuple[Image.Image, ...] = ()  # small crops of those faces, when there are several
    picked: int = 0  # the face the cat is: its number in `boxes`, from 0 (-1: framed by hand)
    photo: Image.Image | None = None  # the photo, small, as the preview before any box is drawn
    frame: tuple[float, ...] | None = None  # the square framed by hand (framing.Frame), if any
    guess: Box | None = None  # no face found: where the finder would guess one (or None)


def read_upload(resources: Resources, name: str, data: bytes, find: bool = True,
                max_bytes: int = MAX_UPLOAD_MB * 1024 * 1024) -> Upload:
    """Find the cats' faces in an uploaded photo (at most MAX_FACES, best first), crop the best
    like the training faces and encode it; with none found, or with `find` False, the photo's
    centre (as the library's `face_or_centre` crops it).

    Never raises on bad input: the result's `error` says what was wrong.
    """
    if len(data) > max_bytes:
        return Upload(name, error="too-large-upload")
    height, width = resources.mixer.image_size
    try:
        preview = open_photo(data, name)
        sought = find and height == width and not is_face_crop(data, width)
        # (looked up in its module at each upload, as face_or_centre looks it up)
        # With no face found, the finder's guess: where framing the face by hand starts.
        boxes, guess = finder.look_for_cat_faces(data, MAX_FACES) if sought else ([], None)
        boxes = tuple(boxes)
        face = crop_face(data, boxes[0], width) if boxes \
            else face_or_centre(data, resources.mixer.image_size, find=False).image
    except PhotoError as e:
        return Upload(name, error=e.reason)
    except Exception:  # a decoder bug on a hostile file must not reach the visitor
        return Upload(name, error="damaged")
    full_width = photo_size(data)[0]
    scale = preview.width / full_width  # the faces' small crops: from the preview's pixels
    faces = tuple(crop_face(preview, Box(*(v * scale for v in box), box.score, box.angle),
                            width) for box in boxes) if len(boxes) > 1 else ()
    preview.thumbnail((320, 320))
    photo, preview = preview, boxed(preview, boxes, full_width)
    key = upload_key(data) if find else f"{upload_key(data)}:centre"
    upload = Upload(name, None, preview, boxes[0] if boxes else None, missed=sought and not boxes,
                    boxes=boxes, faces=faces, photo=photo, guess=guess)
    return replace(upload, cat=_upload_cat(resources, upload, key, face, 0))


def pick_face(resources: Resources, upload: Upload, data: bytes, index: int) -> Upload:
    """The upload standing for its face number `index` (from 0, best first): that face alone is
    cropped from the photo (`data`, the upload's file) and encoded; the photo is not searched
    again. The same upload if it has no such face or stands for it already."""
    if upload.cat is None or not 0 <= index < len(upload.boxes) or index == upload.picked:
        return upload
    box = upload.boxes[index]
    face = crop_face(data, box, resources.mixer.image_size[1])
    key = upload_key(data)
    picked = replace(upload, box=box, picked=index, frame=None)
    if upload.frame is not None:  # framed by hand before: the finder's boxes alone again
        picked = replace(picked, preview=boxed(upload.photo, upload.boxes, photo_size(data)[0]))
    return replace(picked, cat=_upload_cat(resources, picked, key, face, index))


def _upload_cat(resources: Resources, upload: Upload, key: str, face: Image.Image,
                index: int) -> Cat:
    """The cat of an upload's face number `index`: the photo's stem for a name, numbered when
    the photo has several faces; the first face's key is the photo's own."""
    name = short_name(upload.name)
    if len(upload.boxes) > 1:
        name = f"{name} ({index + 1})"
    code = resources.mixer.encode(face, find=False)[0]
    return Cat(f"{key}:{index + 1}" if index else key, name, code, face, "upload")


def upload_key(data: bytes) -> str:
    """The key of the cats an uploaded file gives ("u:" and its hash; a cat of its centre, of
    another face or of a square framed by hand adds to it): the same file, the same cats."""
    return f"u:{hashlib.sha256(data).hexdigest()[:16]}"


def boxed(photo: Image.Image, boxes: Sequence[Box], full_width: float) -> Image.Image:
    """A copy of an upload's small photo with its faces boxed (`draw_boxes`); the boxes are in
    pixels of the full-size photo, `full_width` wide."""
    preview = photo.copy()
    draw_boxes(preview, boxes, preview.width / full_width)
    return preview


def draw_boxes(preview: Image.Image, boxes: Sequence[Box], scale: float) -> None:
    """Each face's box on the preview, the best in red; with several, the others in blue and
    every box numbered (1 the best)."""
    draw = ImageDraw.Draw(preview)
    line = max(2, preview.width // 100)
    font = ImageFont.load_default(size=max(12, preview.width // 16))
    for i in reversed(range(len(boxes))):  # the best drawn last, on top
        x0, y0, x1, y1 = (round(v * scale) for v in boxes[i])
        colour = FACE_COLOURS[0] if i == 0 else FACE_COLOURS[1]
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=line)
        if len(boxes) > 1:  # the number on the box's colour, above its corner (else inside)
            _, top, right, bottom = draw.textbbox((0, 0), str(i + 1), font=font)
            pad = line
            high = bottom - top + 2 * pad
            y = y0 - high + line if y0 - high + line >= 0 else y0
            draw.rectangle([x0, y, x0 + right + 2 * pad, y + high], fill=colour)
            draw.text((x0 + pad, y + pad - top), str(i + 1), font=font, fill="white")


def photo_size(data: bytes) -> tuple[float, float]:
    """The width and height, after EXIF rotation, of the full-size photo that face boxes are
    measured in (read from the header, without decoding the pixels)."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):  # turned a quarter: the sides swap
        width, height = height, width
    return float(width), float(height)


def new_kittens(resources: Resources, n: int, seed: int) -> list[Cat]:
    """n cats drawn from the model's sampler; the same seed gives the same kittens."""
    codes = resources.mixer.sampler.sample(n, seed)
    faces = resources.mixer.decode(codes)
    return [Cat(f"k:{seed}:{i}", f"#{seed}-{i + 1}", code, face, "kitten")
            for i, (code, face) in enumerate(zip(codes, faces))]
