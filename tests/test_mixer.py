"""KittenMixer and its morphs: deterministic codes, one mixing formula for morphs and mixes,
the morph's files, threads."""

from __future__ import annotations

import io
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from conftest import TINY, fake_photo
from PIL import Image

from kitten_mixer import VAE, KittenMixer, interpolate_latents
from kitten_mixer.device import resolve_device
from kitten_mixer.errors import KittenMixerError, PhotoError
from kitten_mixer.images import photo_to_array
from kitten_mixer.morph import METHODS, MIN_STEPS, Morph, latent_path, mix_latents
from kitten_mixer.shipping.genes import fit_genes, save_genes
from kitten_mixer.storage import save_model

# The fake photos hold no cat face: the mixer says so for each, and uses their centres.
pytestmark = pytest.mark.filterwarnings("ignore::kitten_mixer.mixer.NoFaceFound")


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


def test_decode_tensor_gives_the_pixels_decode_draws_in_any_batch_size(mixer):
    codes = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    pixels = mixer.decode_tensor(codes)
    assert pixels.shape == (5, 3, 16, 16) and pixels.dtype == torch.float32
    assert pixels.device.type == "cpu" and 0 <= pixels.min() and pixels.max() <= 1
    assert torch.allclose(mixer.decode_tensor(codes, batch_size=2), pixels, atol=1e-5)
    images = np.stack([np.asarray(image) for image in mixer.decode(codes)])
    expected = (pixels.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(images, expected)


def test_a_resize_convolution_decoder_decodes_folded_to_the_same_pixels():
    model = VAE(**TINY, upsample="resize").eval()
    folded = KittenMixer(model)
    codes = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    assert folded.decoder is not model.decoder  # its transposed-convolution twin
    with torch.no_grad():
        assert torch.allclose(folded.decode_tensor(codes), model.decode(codes), atol=1e-6)


def test_without_finding_the_model_reads_the_centre_crop(mixer):
    photo = fake_photo(1, (120, 90))
    crops = mixer.faces([photo, photo], find=False)
    assert [(crop.box, crop.sought) for crop in crops] == [(None, False), (None, False)]
    expected = photo_to_array(photo, 16)
    assert np.array_equal(np.asarray(crops[0].image), expected)
    face = torch.tensor(expected).permute(2, 0, 1)[None] / 255
    assert torch.equal(mixer.encode(photo, find=False), mixer.posterior(face)[0])


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
    with pytest.raises(ValueError, match="from 0"):
        latent_path(a, b, [1.5])


def test_the_arc_between_two_codes_is_slerp():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 64, generator=generator, dtype=torch.float64) * torch.tensor([[2], [1]])
    t = torch.tensor([0.1, 0.3, 0.5, 0.9], dtype=torch.float64).unsqueeze(1)
    omega = torch.arccos(a @ b / (a.norm() * b.norm()))
    direction = (torch.sin((1 - t) * omega) * a / a.norm()
                 + torch.sin(t * omega) * b / b.norm()) / torch.sin(omega)
    slerp = direction * ((1 - t) * a.norm() + t * b.norm())
    assert torch.allclose(latent_path(a, b, t.flatten()).double(), slerp, atol=1e-5)
    # A fifth of the way along a right angle turns 18 degrees; the mean of the two unit
    # directions, weighted 0.8 and 0.2, would turn only 14.
    fifth = mix_latents(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), [0.8, 0.2])
    assert math.degrees(math.atan2(fifth[1], fifth[0])) == pytest.approx(18, abs=1e-4)


def test_the_spherical_mix_of_several_codes_is_their_karcher_mean():
    # Codes in a plane, at 0, 30 and 90 degrees: their spherical mean weighted 1, 1, 2 lies at
    # the weighted mean angle, (0 + 30 + 180) / 4 = 52.5 degrees; its length is the weighted
    # mean length.
    angles = torch.deg2rad(torch.tensor([0.0, 30.0, 90.0]))
    lengths = torch.tensor([1.0, 2.0, 3.0])
    codes = torch.stack([angles.cos(), angles.sin()], dim=1) * lengths.unsqueeze(1)
    mix = mix_latents(codes, [1, 1, 2])
    assert math.degrees(math.atan2(mix[1], mix[0])) == pytest.approx(52.5, abs=1e-4)
    assert float(mix.norm()) == pytest.approx((1 + 2 + 2 * 3) / 4, abs=1e-5)
    assert torch.allclose(mix_latents(codes, [1, 1, 2], "linear"),
                          (codes[0] + codes[1] + 2 * codes[2]) / 4)
    assert torch.equal(mix_latents(codes, [0, 1, 0]), codes[1])  # one cat alone, exactly


def test_the_arc_bends_about_its_centre():
    # Seen from the centre c, the arc is the plain arc of the codes less c: a quarter of the
    # way along a right angle about c turns 22.5 degrees, and the radius goes from one
    # distance from c to the other. The line does not depend on the centre.
    c = torch.tensor([5.0, -1.0])
    a, b = c + torch.tensor([2.0, 0.0]), c + torch.tensor([0.0, 4.0])
    arc = latent_path(a, b, [0, 0.25, 0.5, 1], "slerp", c)
    assert torch.equal(arc[0], a) and torch.equal(arc[-1], b)  # its ends, exactly
    offsets = (arc - c).double()
    assert torch.allclose(offsets.norm(dim=1), torch.tensor([2.0, 2.5, 3.0, 4.0],
                                                            dtype=torch.float64), atol=1e-5)
    assert math.degrees(math.atan2(offsets[1, 1], offsets[1, 0])) == pytest.approx(22.5,
                                                                                   abs=1e-4)
    about_origin = latent_path(a, b, [0.5], "slerp")[0]
    assert (about_origin - arc[2]).norm() > 0.1  # the centre moves the middle
    generator = torch.Generator().manual_seed(1)
    codes, centre = torch.randn(3, 16, generator=generator), torch.randn(16, generator=generator)
    assert torch.allclose(mix_latents(codes, [1, 2, 3], "slerp", centre),
                          mix_latents(codes - centre, [1, 2, 3], "slerp") + centre, atol=1e-5)
    assert torch.equal(mix_latents(codes, [1, 2, 3], "linear", centre),
                       mix_latents(codes, [1, 2, 3], "linear"))
    assert torch.equal(mix_latents(codes, [0, 1, 0], "slerp", centre), codes[1])
    with pytest.raises(KittenMixerError, match="centre must be one code"):
        mix_latents(codes, None, "slerp", torch.zeros(15))


def test_a_model_with_genes_morphs_about_its_cats_centre(mixer, tmp_path, tiny_model):
    a, b = fake_photo(1), fake_photo(2)
    save_model(tiny_model, tmp_path / "m")
    bare = KittenMixer.load(tmp_path / "m", device="cpu")
    assert bare.centre is None  # no genes: the arc bends about the origin, as before
    codes = bare.encode([a, b])
    plain = bare.interpolate(codes[0], codes[1], steps=5)
    about_origin = interpolate_latents(codes[0], codes[1], 5)
    assert all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(plain, bare.decode(about_origin)))

    cats = torch.randn(64, 8, generator=torch.Generator().manual_seed(2)) + 3
    save_genes(tmp_path / "m", fit_genes(cats, 4))
    shipped = KittenMixer.load(tmp_path / "m", device="cpu")
    assert torch.allclose(shipped.centre, cats.mean(0), atol=1e-5)
    path = interpolate_latents(codes[0], codes[1], 5, "slerp", shipped.centre)
    assert (path[2] - about_origin[2]).norm() > 0.1
    frames = shipped.interpolate(codes[0], codes[1], steps=5)
    assert all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(frames, shipped.decode(path)))
    mixed = shipped.mix(codes, [0.5, 0.5])
    assert np.array_equal(np.asarray(mixed), np.asarray(frames[2]))

    (tmp_path / "m" / "genes.safetensors").write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="genes.safetensors: damaged.*bend about the origin"):
        assert KittenMixer.load(tmp_path / "m", device="cpu").centre is None


@pytest.mark.parametrize("method", METHODS)
def test_mixing_two_cats_gives_the_morph_at_the_same_share(mixer, method):
    a, b = fake_photo(1), fake_photo(2)
    codes = mixer.encode([a, b])
    morph = mixer.interpolate(a, b, steps=11, method=method)
    path = interpolate_latents(codes[0], codes[1], 11, method)
    for t in (0, 0.2, 0.5, 0.7, 1):
        step = round(10 * t)
        code = mix_latents(codes, [1 - t, t], method)
        assert torch.allclose(code, path[step], atol=1e-6), t
        kitten = np.asarray(mixer.mix([a, b], [1 - t, t], method=method), dtype=int)
        assert np.abs(kitten - np.asarray(morph[step], dtype=int)).max() <= 1, t


def test_mix_checks_its_cats_and_weights(mixer):
    cats = [fake_photo(1), fake_photo(2), fake_photo(3)]
    codes = mixer.encode(cats)
    line = mixer.mix(cats, [1, 1, 2], method="linear")
    mean = (codes[0] + codes[1] + 2 * codes[2]) / 4
    assert np.abs(np.asarray(line, int) - np.asarray(mixer.decode(mean)[0], int)).max() <= 1
    assert not np.array_equal(np.asarray(mixer.mix(cats, [1, 1, 2])), np.asarray(line))
    alone = mixer.mix(cats[:1])
    assert np.array_equal(np.asarray(alone), np.asarray(mixer.reconstruct(cats[0])[0]))
    with pytest.raises(ValueError):
        mixer.mix(cats, [1, -1, 0])
    with pytest.raises(ValueError):
        mixer.mix([])
    with pytest.raises(ValueError, match="method"):
        mixer.mix(cats, method="cubic")


def test_a_morph_holds_its_frames_the_faces_seen_and_their_files(mixer, tmp_path):
    a, b = fake_photo(1, (40, 30)), fake_photo(2)
    morph = mixer.morph(a, b, steps=5, method="linear")
    assert len(morph.frames) == 5 and morph.frames[0].size == (16, 16)
    assert [np.asarray(face).tolist() for face in morph.ends] == \
        [photo_to_array(photo, 16).tolist() for photo in (a, b)]
    assert mixer.morph(*mixer.encode([a, b]), steps=5).ends is None  # codes have no photos
    big = morph.enlarged(3)
    assert big.frames[0].size == (48, 48) and big.ends[0].size == (48, 48)
    assert len(big.pictures) == 7 and len(big.pngs()) == 7
    assert Image.open(io.BytesIO(big.pngs()[0])).size == (48, 48)
    assert big.strip().size == (7 * 50 + 2, 52)  # face, 5 frames, face, 2-pixel gaps
    with Image.open(io.BytesIO(big.gif())) as gif:
        assert gif.n_frames == 2 * 5 - 2  # there and back again
    assert Morph(big.frames).strip().size == (5 * 50 + 2, 52)
    assert big.save(tmp_path / "out" / "m.gif").read_bytes()[:6] == b"GIF89a"
    with Image.open(big.save(tmp_path / "m.PNG")) as strip:
        assert strip.size == big.strip().size
    with pytest.raises(KittenMixerError, match="must end in .gif or .png"):
        big.save(tmp_path / "m.bmp")


def test_a_morph_needs_its_two_ends(mixer):
    a, b = fake_photo(1), fake_photo(2)
    assert len(mixer.morph(a, b, steps=MIN_STEPS).frames) == MIN_STEPS
    # A KittenMixerError: the command line prints it as one line, without a traceback.
    with pytest.raises(KittenMixerError, match=f"at least {MIN_STEPS} steps"):
        mixer.morph(a, b, steps=MIN_STEPS - 1)


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
    assert mixer.device == resolve_device("auto")  # the GPU when there is one
    assert KittenMixer.load(path=tmp_path / "m", device="cpu").device.type == "cpu"


def test_the_shipped_default_model_loads_and_mixes():
    mixer = KittenMixer.load()
    assert mixer.image_size == (64, 64)
    assert (mixer.folder / "model.safetensors").stat().st_size <= 25_000_000  # the size limit
    assert {"label", "data", "metrics"} <= set(mixer.config)  # what the model card cites
    morph = mixer.interpolate(fake_photo(1), fake_photo(2))
    assert len(morph) == 11 and morph[0].size == (64, 64)
    assert torch.equal(mixer.centre, mixer.genes.mean)  # its morphs bend about its cats' centre
