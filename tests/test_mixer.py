"""KittenMixer: deterministic codes, morphs from one cat to the other, mixes, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from conftest import fake_photo

from kitten_mixer import KittenMixer, interpolate_latents
from kitten_mixer.errors import PhotoError
from kitten_mixer.storage import save_model


@pytest.fixture
def mixer(tiny_model) -> KittenMixer:
    return KittenMixer(tiny_model)


def test_encode_is_deterministic_and_accepts_every_kind_of_photo(mixer, tmp_path):
    photo = fake_photo(1, (120, 90))
    path = tmp_path / "cat.png"
    photo.save(path)
    codes = mixer.encode([photo, path, str(path), path.read_bytes(), np.asarray(photo)])
    assert codes.shape == (5, 8)
    assert all(torch.allclose(codes[0], c) for c in codes[1:])
    assert torch.equal(mixer.encode(photo), mixer.encode(photo))  # the mean, not a sample


def test_decode_gives_rgb_images_of_the_model_size(mixer):
    images = mixer.decode(torch.randn(3, 8))
    assert len(images) == 3 and all(i.size == (16, 16) and i.mode == "RGB" for i in images)
    assert len(mixer.decode(np.zeros(8, dtype=np.float32))) == 1
    with pytest.raises(ValueError, match=r"\[N, 8\]"):
        mixer.decode(torch.randn(2, 5))


def test_interpolate_runs_from_a_to_b(mixer):
    a, b = fake_photo(1), fake_photo(2)
    morph = mixer.interpolate(a, b, steps=7)
    assert len(morph) == 7
    ends = mixer.reconstruct([a, b])
    assert np.array_equal(np.asarray(morph[0]), np.asarray(ends[0]))
    assert np.array_equal(np.asarray(morph[-1]), np.asarray(ends[1]))
    again = mixer.interpolate(a, b, steps=7)
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(morph, again))
    codes = mixer.encode([a, b])
    from_codes = mixer.interpolate(codes[0], codes[1], steps=7, method="slerp")
    assert np.array_equal(np.asarray(from_codes[0]), np.asarray(ends[0]))


def test_linear_and_slerp_paths():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 2.0])
    line = interpolate_latents(a, b, 5, "linear")
    assert torch.allclose(line[2], (a + b) / 2)
    arc = interpolate_latents(a, b, 5, "slerp")
    assert torch.equal(arc[0], a) and torch.equal(arc[-1], b)
    assert torch.allclose(arc.norm(dim=1), torch.linspace(3, 2, 5), atol=1e-5)
    angles = torch.atan2(arc[:, 1], arc[:, 0])
    assert torch.allclose(angles.diff(), torch.full((4,), torch.pi / 8), atol=1e-5)
    same = interpolate_latents(a, a, 3, "slerp")  # parallel codes: no division by zero
    assert torch.isfinite(same).all()
    with pytest.raises(ValueError):
        interpolate_latents(a, b, 1)
    with pytest.raises(ValueError):
        interpolate_latents(a, b, 3, "cubic")


def test_mix_is_the_weighted_mean_of_codes_at_their_mean_length(mixer):
    cats = [fake_photo(1), fake_photo(2), fake_photo(3)]
    codes = mixer.encode(cats)
    mean = (codes[0] + codes[1] + 2 * codes[2]) / 4
    line = mixer.mix(cats, [1, 1, 2], method="linear")
    assert np.array_equal(np.asarray(line), np.asarray(mixer.decode(mean)[0]))
    units = codes / codes.norm(dim=1, keepdim=True)
    direction = (units[0] + units[1] + 2 * units[2]) / 4
    length = (codes[0].norm() + codes[1].norm() + 2 * codes[2].norm()) / 4
    arc = np.asarray(mixer.mix(cats, [1, 1, 2]), float)
    expected = np.asarray(mixer.decode(direction / direction.norm() * length)[0], float)
    assert np.abs(arc - expected).max() <= 1 and not np.array_equal(arc, np.asarray(line))
    # For two cats, the default mix is the point of the default morph at the same share.
    halfway = mixer.interpolate(codes[0], codes[1], steps=3)[1]
    assert np.abs(np.asarray(mixer.mix(codes[:2]), float) - np.asarray(halfway, float)).max() <= 1
    alone = mixer.mix(cats[:1])
    assert np.array_equal(np.asarray(alone), np.asarray(mixer.reconstruct(cats[0])[0]))
    with pytest.raises(ValueError):
        mixer.mix(cats, [1, -1, 0])
    with pytest.raises(ValueError):
        mixer.mix([])
    with pytest.raises(ValueError, match="method"):
        mixer.mix(cats, method="cubic")


def test_bad_photos_raise_photo_errors(mixer, tmp_path):
    (tmp_path / "x.jpg").write_text("not a cat")
    with pytest.raises(PhotoError, match="x.jpg"):
        mixer.encode(tmp_path / "x.jpg")


def test_threads_get_the_same_answers_as_one_thread(mixer):
    cats = [fake_photo(i) for i in range(8)]
    expected = [mixer.interpolate(cats[i], cats[i + 1], 5) for i in range(0, 8, 2)]

    def work(i):
        return mixer.interpolate(cats[2 * (i % 4)], cats[2 * (i % 4) + 1], 5)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(32)))
    for i, morph in enumerate(results):
        assert all(np.array_equal(np.asarray(x), np.asarray(y))
                   for x, y in zip(morph, expected[i % 4]))


def test_load_from_a_folder(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m", metrics={"val_loss": 3.0})
    mixer = KittenMixer.load(tmp_path / "m")
    assert mixer.latent_dims == 8 and mixer.config["metrics"]["val_loss"] == 3.0
    assert mixer.folder == tmp_path / "m"


def test_the_shipped_default_model_loads_and_mixes():
    mixer = KittenMixer.load()
    assert mixer.image_size == (64, 64)
    assert (mixer.folder / "model.safetensors").stat().st_size <= 25_000_000  # the size limit
    assert {"label", "data", "metrics"} <= set(mixer.config)  # what the model card cites
    morph = mixer.interpolate(fake_photo(1), fake_photo(2))
    assert len(morph) == 11 and morph[0].size == (64, 64)
