"""Genes: the main directions of the training codes, their names where a measure shows what
they do, saved beside the model, used by KittenMixer.tune, `kitten-mixer genes` and `ship`."""

from __future__ import annotations

import pytest
import torch

from kitten_mixer import KittenMixer
from kitten_mixer.cli import main
from kitten_mixer.errors import ModelFileError, MorphError
from kitten_mixer.ship import ship_model
from kitten_mixer.shipping.gallery import load_gallery
from kitten_mixer.shipping.genes import (
    MEASURES,
    fit_genes,
    load_genes,
    name_genes,
    save_genes,
)
from kitten_mixer.storage import ModelFolder, save_model

SPREADS = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.1])


def known_codes(n: int = 4000) -> tuple[torch.Tensor, torch.Tensor]:
    """Codes spread 3, 2, 1, 0.5, 0.1 along five random orthonormal directions around a mean."""
    g = torch.Generator().manual_seed(0)
    axes = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))[0].T.float()
    codes = (torch.randn(n, 5, generator=g) * SPREADS) @ axes + torch.arange(5.0)
    return codes, axes


def test_genes_are_the_main_directions_with_their_spreads():
    codes, axes = known_codes()
    genes = fit_genes(codes, 3)
    assert genes.directions.shape == (3, 5) and genes.names == ["", "", ""]
    assert torch.allclose(genes.directions @ genes.directions.T, torch.eye(3), atol=1e-5)
    assert torch.allclose((genes.directions @ axes[:3].T).abs(), torch.eye(3), atol=0.05)
    assert torch.allclose(genes.spread, SPREADS[:3], rtol=0.05)
    assert torch.allclose(genes.mean, torch.arange(5.0), atol=0.15)
    largest = genes.directions.gather(1, genes.directions.abs().argmax(1, keepdim=True))
    assert (largest > 0).all()  # each sign fixed, so the same codes give the same genes
    assert torch.equal(fit_genes(codes, 3).directions, genes.directions)
    assert len(fit_genes(codes[:3], 10)) == 3  # no more genes than codes


def test_tuning_moves_a_code_by_spreads_along_genes():
    codes, _ = known_codes()
    genes = fit_genes(codes, 4)
    code = codes[7]
    assert torch.allclose(genes.tune(code, {}), code)
    moved = genes.tune(code, {0: 1.5, 3: -1})
    assert torch.allclose(genes.values(moved) - genes.values(code),
                          torch.tensor([1.5, 0, 0, -1], dtype=torch.float64), atol=1e-4)
    assert torch.allclose(genes.values(genes.mean), torch.zeros(4, dtype=torch.float64),
                          atol=1e-5)
    for values, problem in (({4: 1.0}, "does not exist"), ({-1: 1.0}, "does not exist"),
                            ({0: float("nan")}, "not a finite")):
        with pytest.raises(MorphError, match=problem):
            genes.tune(code, values)


def fake_faces(codes: torch.Tensor) -> torch.Tensor:
    """Faces [N, 3, 4, 4] that get darker along code axis 0, warmer along axis 2, and noisy
    along axis 1, which names nothing."""
    n = len(codes)
    faces = torch.full((n, 3, 4, 4), 0.5)
    faces -= 0.05 * codes[:, 0, None, None, None]
    faces[:, 0] += 0.03 * codes[:, 2, None, None]
    faces[:, 2] -= 0.03 * codes[:, 2, None, None]
    faces += 0.01 * torch.sin(37 * codes[:, 1])[:, None, None, None]
    return faces


def test_a_gene_is_named_only_where_every_face_shows_it():
    g = torch.Generator().manual_seed(1)
    codes = torch.randn(300, 4, generator=g) * torch.tensor([3.0, 2.0, 1.0, 0.5])
    genes = name_genes(fit_genes(codes, 4), fake_faces, codes[:40])
    assert genes.names == ["lightness", "", "warmth", ""]
    assert set(genes.names) - {""} <= set(MEASURES)
    # turned to point where the measure grows: lightness is axis 0 backwards
    assert genes.directions[0, 0] < -0.99
    lighter = fake_faces(torch.stack([genes.tune(codes[0], {0: 1.0})]))
    assert lighter.mean() > fake_faces(codes[:1]).mean()


def test_genes_are_saved_beside_a_model_and_used_by_kitten_mixer(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path)
    mixer = KittenMixer.load(tmp_path)
    with pytest.raises(ModelFileError, match="no genes"):
        mixer.tune(torch.zeros(8), {0: 1})
    codes = torch.randn(100, 8, generator=torch.Generator().manual_seed(2))
    genes = fit_genes(codes, 3)
    genes.names = ["", "warmth", ""]
    save_genes(tmp_path, genes)
    loaded = load_genes(tmp_path)
    assert torch.equal(loaded.directions, genes.directions) and loaded.names == genes.names
    mixer = KittenMixer.load(tmp_path)
    assert len(mixer.genes) == 3
    code = codes[0]
    assert torch.allclose(mixer.tune(code, {1: -2}), genes.tune(code, {1: -2}))
    photo_code = mixer.tune(mixer.decode(code)[0], {0: 1})  # a photo is encoded first
    assert photo_code.shape == (8,)
    ModelFolder(tmp_path).genes.write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="damaged"):
        load_genes(tmp_path)
    with pytest.raises(ModelFileError, match="no genes"):
        KittenMixer(tiny_model).genes  # noqa: B018


def test_the_genes_command_writes_them_into_the_model_folder(tmp_path, tiny_model,
                                                            photo_folder, capsys):
    save_model(tiny_model, tmp_path / "model")
    assert main(["genes", str(tmp_path / "model"), "--data", str(photo_folder), "-n", "4"]) == 0
    assert "4 genes" in capsys.readouterr().out
    genes = load_genes(tmp_path / "model")
    assert genes.directions.shape == (4, 8)
    assert main(["genes", str(tmp_path / "model"), "--data", str(tmp_path / "nowhere")]) == 2
    assert main(["genes", str(tmp_path / "nowhere"), "--data", str(photo_folder)]) == 2


@pytest.mark.slow
def test_a_shipped_model_has_genes(tmp_path, tiny_model, photo_folder):
    save_model(tiny_model, tmp_path / "run")
    shipped = ship_model(tmp_path / "run", photo_folder, tmp_path / "shipped", "tiny",
                         gallery_size=3, components=1, genes=5)
    assert len(shipped.genes) == 5 and len(shipped.genes.names) == 5


def test_the_shipped_models_named_genes_do_what_their_names_say():
    mixer = KittenMixer.load()
    genes = mixer.genes
    assert 8 <= len(genes) <= 12 and genes.names[0] == "lightness"
    assert {"lightness", "warmth", "light_from_the_left"} == set(genes.names) - {""}
    codes = load_gallery(mixer.folder).codes[::15]  # 8 cats of the gallery
    values = [-3, -1.5, 0, 1.5, 3]
    for gene, name in enumerate(genes.names):
        if not name:
            continue
        faces = mixer.decode_tensor(torch.stack([genes.tune(code, {gene: value})
                                                 for code in codes for value in values]))
        measured = MEASURES[name](faces).reshape(len(codes), len(values))
        assert (measured.diff(dim=1) > 0).all(), name  # every cat, every step of the way
