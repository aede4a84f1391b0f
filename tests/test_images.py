"""Photos of every kind become 64x64 RGB faces; bad ones raise PhotoError with a clear message."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from conftest import fake_photo
from PIL import Image

from kitten_mixer.errors import PhotoError
from kitten_mixer.images import (
    centre_crop,
    image_grid,
    open_photo,
    photo_to_array,
    photos_to_tensor,
    tensor_to_images,
)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_photo_from_path_bytes_pil_and_array_agree(tmp_path):
    photo = fake_photo(1, (80, 64))
    path = tmp_path / "cat.png"
    photo.save(path)
    expected = photo_to_array(photo)
    assert expected.shape == (64, 64, 3) and expected.dtype == np.uint8
    for source in (path, str(path), path.read_bytes(), np.asarray(photo)):
        assert np.array_equal(photo_to_array(source), expected)


def test_centre_crop_keeps_the_middle():
    image = Image.new("RGB", (300, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))  # a blue square in the middle
    face = np.asarray(centre_crop(image, 64))
    assert face.shape == (64, 64, 3)
    assert face[..., 2].mean() > 250 and face[..., 0].mean() < 5


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"this is a text file, not a cat\n" * 10, "not an image"),
])
def test_non_images_are_refused(tmp_path, content, message):
    path = tmp_path / "cat.jpg"
    path.write_bytes(content)
    with pytest.raises(PhotoError, match=message):
        open_photo(path)


def test_truncated_jpeg_is_refused():
    data = encoded(fake_photo(2, (256, 256)), "JPEG")
    with pytest.raises(PhotoError, match="truncated|damaged|unreadable"):
        open_photo(data[: len(data) // 2], name="half.jpg")


def test_tiny_image_is_refused():
    with pytest.raises(PhotoError, match="too small"):
        open_photo(encoded(Image.new("RGB", (1, 1)), "PNG"))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(PhotoError, match="no such file"):
        open_photo(tmp_path / "nowhere.jpg")


def test_a_file_that_cannot_be_read_is_named(tmp_path):
    # A folder named like a photo: unreadable for every user, root included.
    (tmp_path / "cat.jpg").mkdir()
    with pytest.raises(PhotoError, match="cat.jpg"):
        open_photo(str(tmp_path / "cat.jpg"))
    # /proc/self/mem exists but reads fail with EIO.
    with pytest.raises(PhotoError, match="mem: cannot be read"):
        open_photo("/proc/self/mem")


def test_sixteen_bit_png_keeps_its_brightness():
    pixels = np.full((32, 32), 32768, dtype=np.uint16)  # mid grey in 16 bits
    data = encoded(Image.fromarray(pixels), "PNG")
    face = photo_to_array(data)
    assert abs(int(face.mean()) - 128) <= 2  # not clipped to white, not black


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red in CMYK
    face = photo_to_array(encoded(cmyk, "JPEG"))
    assert face.shape == (64, 64, 3)
    red, green, blue = face.reshape(-1, 3).mean(0)
    assert red > 200 and green < 60 and blue < 60


def test_rgba_png_is_composited_on_white():
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))  # fully transparent
    face = photo_to_array(encoded(rgba, "PNG"))
    assert face.min() >= 250


def test_palette_and_grey_images_become_rgb():
    grey = Image.new("L", (20, 20), 100)
    assert photo_to_array(encoded(grey, "PNG"))[0, 0].tolist() == [100, 100, 100]
    palette = fake_photo(3).convert("P")
    assert photo_to_array(encoded(palette, "PNG")).shape == (64, 64, 3)


def test_fifty_megapixel_jpeg_is_decoded_at_an_eighth_of_each_side():
    big = Image.new("RGB", (8660, 5780), (30, 120, 200))
    data = encoded(big, "JPEG", quality=50)
    assert open_photo(data).size == (1083, 723)  # under a megapixel, both sides over 256
    face = photo_to_array(data)
    assert face.shape == (64, 64, 3)
    assert np.abs(face.reshape(-1, 3).mean(0) - [30, 120, 200]).max() < 4


def test_decompression_bomb_is_refused():
    # The header claims 200 megapixels; nothing that large is ever decoded.
    bomb = encoded(Image.new("1", (20000, 10000)), "PNG")
    with pytest.raises(PhotoError, match="too large"):
        open_photo(bomb)


def test_arrays_of_floats_and_channels_first():
    rgb = np.asarray(fake_photo(4)).astype(np.float32) / 255
    assert np.abs(photo_to_array(rgb).astype(int) - np.asarray(fake_photo(4))).max() <= 1
    channels_first = np.moveaxis(np.asarray(fake_photo(4)), -1, 0)
    assert np.array_equal(photo_to_array(channels_first), np.asarray(fake_photo(4)))
    with pytest.raises(PhotoError, match="not an image"):
        open_photo(np.zeros((4, 4, 4, 4)))


def test_unknown_types_are_refused():
    with pytest.raises(PhotoError, match="expected a path"):
        open_photo(12345)


def test_tensor_round_trip():
    photos = [fake_photo(i) for i in range(3)]
    tensor = photos_to_tensor(photos)
    assert tensor.shape == (3, 3, 64, 64) and tensor.dtype == torch.uint8
    back = tensor_to_images(tensor.float() / 255)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(photos, back))


def test_image_grid_lays_out_rows():
    grid = image_grid([fake_photo(i, (10, 10)) for i in range(7)], columns=3, pad=2)
    assert grid.size == (3 * 12 + 2, 3 * 12 + 2)
