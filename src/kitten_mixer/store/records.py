"""What a kitten is, and the checks every kitten passes on its way into the store, whether a
visitor keeps it or an operator imports it: a one-line StoreError for anything else."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import torch
from PIL import Image

from kitten_mixer.store.errors import StoreError

MAX_CODE = 4096  # values in a code (the shipped model's have 500)
MAX_PICTURE = 64 * 1024  # bytes of PNG (a 64x64 face takes about 10 KB)
MAX_SIDE = 1024  # pixels of a picture's side
MAX_PARENTS = 8
MAX_GENES = 64
MAX_OWNER = 200  # characters of a visitor's token
MAX_REF = 64  # characters of a gallery cat's id
MAX_MODEL = 128  # characters of a model's digest
KINDS = ("kitten", "upload")
PARENT_KINDS = ("gallery", "kitten", "upload")
# What a parent kitten reads as once it is deleted: kind WITHDRAWN, ref "".
WITHDRAWN = "withdrawn"
EXPORT_FORMAT = "kitten-mixer-kitten/1"
_ID = re.compile(r"[A-Za-z0-9_-]{16}")
_HASH = re.compile(r"[0-9a-f]{64}")
_PNG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Parent:
    """One parent of a kitten: a gallery cat ("gallery", its id), a stored kitten ("kitten",
    its id), or an uploaded cat ("upload", ref ""), with its share in the mix, 0 to 1. A
    deleted parent kitten reads as ("withdrawn", "")."""

    kind: str
    ref: str
    share: float


@dataclass(frozen=True, eq=False)
class Kitten:
    """A stored kitten. Its owner is never exposed: the store holds a hash of the token."""

    id: str  # 16 URL-safe characters, random
    code: torch.Tensor  # float32 [dims], finite
    parents: tuple[Parent, ...]
    genes: dict[int, float]  # gene index -> value in spreads
    model: str  # the digest of the model that drew it
    picture: bytes  # the PNG the page showed
    created: datetime  # timezone-aware UTC
    public: bool  # shown in the public nursery
    kind: str  # "kitten" (bred, mixed or tuned) or "upload" (an uploaded cat's code and face)


@dataclass(frozen=True)
class Summary:
    """A kitten as an operator lists it: no code, no picture."""

    id: str
    created: datetime
    public: bool
    kind: str
    model: str
    parents: tuple[Parent, ...]


@dataclass(frozen=True)
class Record:
    """A kitten as its rows hold it: what `keep` and `import_rows` write and `export` reads."""

    id: str
    owner: str  # the hash of the owner's token
    kind: str
    model: str
    code: bytes  # float32, little-endian
    genes: str  # JSON
    picture: bytes
    created: datetime
    public: bool
    parents: tuple[Parent, ...]

    @property
    def dims(self) -> int:
        return len(self.code) // 4


def new_id() -> str:
    """A kitten's id: 12 random bytes from the system's secure source, URL-safe base64, drawn
    again when it starts with "-" (1 in 64), which a command line would read as an option."""
    while (kitten_id := secrets.token_urlsafe(12)).startswith("-"):
        pass
    return kitten_id


def is_id(text: Any) -> bool:
    return isinstance(text, str) and _ID.fullmatch(text) is not None


def owner_hash(owner: Any) -> str:
    """What the store keeps of a visitor's token: its SHA-256, so rows never hold the token."""
    if not isinstance(owner, str) or not owner or len(owner) > MAX_OWNER:
        raise StoreError(f"the owner's token must be text of 1 to {MAX_OWNER} characters")
    return hashlib.sha256(b"kitten-mixer owner\0" + owner.encode()).hexdigest()


def code_bytes(code: Any) -> bytes:
    """A code as float32 little-endian bytes, once it is 1-D, finite and not too long."""
    try:
        if isinstance(code, torch.Tensor):
            values = code.detach().to("cpu", torch.float32).numpy()  # float64 1e300: inf
        else:
            with np.errstate(over="ignore"):  # too large for float32: infinity, refused below
                values = np.asarray(code, dtype=np.float32)
    except (TypeError, ValueError, RuntimeError):
        raise StoreError("the code must be a list of numbers") from None
    if values.ndim != 1 or not 1 <= len(values) <= MAX_CODE:
        raise StoreError(f"the code must be 1-D with 1 to {MAX_CODE} values, not of shape "
                         f"{list(values.shape)}")
    if not np.isfinite(values).all():
        raise StoreError("the code has values that are not finite (NaN or infinity)")
    return values.astype("<f4", copy=False).tobytes()


def code_tensor(blob: bytes) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(blob, dtype="<f4").astype(np.float32))


def picture_bytes(picture: Any) -> bytes:
    """The PNG a page showed, once it is a whole PNG under MAX_PICTURE bytes."""
    if not isinstance(picture, (bytes, bytearray, memoryview)):
        raise StoreError("the picture must be the bytes of a PNG")
    picture = bytes(picture)
    if len(picture) >= MAX_PICTURE:
        raise StoreError(f"the picture has {len(picture)} bytes; at most {MAX_PICTURE - 1}")
    if not picture.startswith(_PNG):
        raise StoreError("the picture is not a PNG")
    try:
        with Image.open(io.BytesIO(picture)) as image:
            if max(image.size) > MAX_SIDE:
                raise StoreError(f"the picture is {image.size[0]}x{image.size[1]} pixels; "
                                 f"at most {MAX_SIDE} a side")
            image.verify()
    except StoreError:
        raise
    except Exception:  # Pillow raises many kinds on damaged files
        raise StoreError("the picture is a damaged PNG") from None
    return picture


def _printable(text: Any, most: int, what: str, empty: bool = False) -> str:
    if not isinstance(text, str) or len(text) > most or (not text and not empty) \
            or not text.isprintable():
        raise StoreError(f"{what} must be printable text of {0 if empty else 1} to {most} "
                         "characters")
    return text


def check_parents(parents: Iterable[Any]) -> tuple[Parent, ...]:
    if isinstance(parents, (str, bytes, Mapping)):
        raise StoreError("the parents must be a list")
    checked = []
    for parent in parents:
        if len(checked) == MAX_PARENTS:
            raise StoreError(f"a kitten has at most {MAX_PARENTS} parents")
        if isinstance(parent, Mapping):
            if set(parent) != {"kind", "ref", "share"}:
                raise StoreError("a parent has exactly a kind, a ref and a share")
            parent = Parent(parent["kind"], parent["ref"], parent["share"])
        if not isinstance(parent, Parent):
            raise StoreError("each parent must be a Parent(kind, ref, share)")
        if parent.kind not in PARENT_KINDS:
            raise StoreError(f"a parent's kind is one of {', '.join(PARENT_KINDS)}, "
                             f"not {parent.kind!r}")
        if parent.kind == "upload" and parent.ref != "":
            raise StoreError("an uploaded parent has no ref (an upload is never stored)")
        if parent.kind == "kitten" and not is_id(parent.ref):
            raise StoreError(f"a parent kitten's ref must be a kitten's id, not {parent.ref!r}")
        if parent.kind == "gallery":
            _printable(parent.ref, MAX_REF, "a gallery parent's ref")
        share = parent.share
        if isinstance(share, bool) or not isinstance(share, (int, float)) \
                or not (math.isfinite(share) and 0 <= share <= 1):
            raise StoreError(f"a parent's share must be a number from 0 to 1, not {share!r}")
        checked.append(Parent(parent.kind, parent.ref, float(share)))
    return tuple(checked)


def genes_json(genes: Any) -> str:
    """Gene edits as JSON text, keys in order, once each is an index and a finite value."""
    if not isinstance(genes, Mapping):
        raise StoreError("the genes must map gene indices to values")
    if len(genes) > MAX_GENES:
        raise StoreError(f"a kitten has at most {MAX_GENES} gene values, not {len(genes)}")
    checked = {}
    for index, value in genes.items():
        if isinstance(index, str) and index.isdecimal():  # JSON's keys are text
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_CODE:
            raise StoreError(f"a gene's index must be a whole number from 0 to {MAX_CODE - 1}, "
                             f"not {index!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise StoreError(f"gene {index}'s value must be a finite number, not {value!r}")
        checked[index] = float(value)
    return json.dumps({str(index): checked[index] for index in sorted(checked)})


def genes_dict(text: str) -> dict[int, float]:
    return {int(index): value for index, value in json.loads(text).items()}


def check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise StoreError(f"a kitten's kind is one of {', '.join(KINDS)}, not {kind!r}")
    return kind


def check_model(model: Any) -> str:
    return _printable(model, MAX_MODEL, "the model's digest")


def kitten(record: Record) -> Kitten:
    return Kitten(record.id, code_tensor(record.code), record.parents, genes_dict(record.genes),
                  record.model, record.picture, record.created, record.public, record.kind)


def export_dict(record: Record) -> dict:
    """A kitten as a JSON-able dict: the line `export` writes and `import_rows` reads."""
    return {"format": EXPORT_FORMAT, "id": record.id, "created": record.created.isoformat(),
            "kind": record.kind, "public": record.public, "model": record.model,
            "owner": record.owner,
            "parents": [{"kind": p.kind, "ref": p.ref, "share": p.share}
                        for p in record.parents],
            "genes": json.loads(record.genes),
            "code": np.frombuffer(record.code, dtype="<f4").tolist(),
            "picture": base64.b64encode(record.picture).decode("ascii")}


def from_export(row: Any) -> Record:
    """A kitten from an exported dict, checked as `keep` checks one."""
    if not isinstance(row, Mapping):
        raise StoreError("a kitten must be a JSON object")
    expected = {"format", "id", "created", "kind", "public", "model", "owner", "parents",
                "genes", "code", "picture"}
    if set(row) != expected:
        missing, extra = sorted(expected - set(row)), sorted(set(row) - expected)
        raise StoreError("a kitten's fields are wrong: " + "; ".join(
            part for part in (missing and f"missing {', '.join(missing)}",
                              extra and f"unknown {', '.join(extra)}") if part))
    if row["format"] != EXPORT_FORMAT:
        raise StoreError(f"the format is {row['format']!r}, not {EXPORT_FORMAT!r}")
    if not is_id(row["id"]):
        raise StoreError(f"the id {row['id']!r} is not a kitten's id")
    if not isinstance(row["owner"], str) or not _HASH.fullmatch(row["owner"]):
        raise StoreError("the owner must be a hash of 64 hexadecimal digits")
    if not isinstance(row["public"], bool):
        raise StoreError("public must be true or false")
    try:
        created = datetime.fromisoformat(row["created"])
    except (TypeError, ValueError):
        raise StoreError(f"created must be an ISO 8601 time, not {row['created']!r}") from None
    if created.tzinfo is None:
        raise StoreError("created must say its timezone (+00:00)")
    code = row["code"]
    if not isinstance(code, list) or len(code) > MAX_CODE or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in code):
        raise StoreError(f"the code must be a list of 1 to {MAX_CODE} numbers")
    try:
        picture = base64.b64decode(row["picture"], validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise StoreError("the picture must be base64 text") from None
    return Record(row["id"], row["owner"], check_kind(row["kind"]), check_model(row["model"]),
                  code_bytes(code), genes_json(row["genes"]), picture_bytes(picture), created,
                  row["public"], check_parents(row["parents"]))
