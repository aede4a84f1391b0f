"""The experiment configs in experiments/configs: each loads as `kitten-mixer train --config`
loads it, and the model it starts from (`init`) fits its architecture, so that none of them
fails only after the data is read. A shipped model in the repository is checked by its own
config.json; a run folder of one's own (runs/..., not in the repository) by that run's
evaluation record in experiments/records, which holds the run's architecture."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from kitten_mixer.errors import KittenMixerError
from kitten_mixer.model import VAEConfig
from kitten_mixer.storage import read_config, read_json
from kitten_mixer.training.config import ExperimentConfig

CONFIGS = sorted((REPO / "experiments" / "configs").glob("*.json"))
RECORDS = REPO / "experiments" / "records"


def init_architecture(init: str) -> tuple[VAEConfig, str]:
    """The architecture of the model at `init` and where it was read; pytest.fail when it
    cannot be checked either way."""
    folder = REPO / init
    if folder.is_dir():  # a saved model in the repository: the shipped weights
        try:
            architecture = read_config(folder)["architecture"]
        except KittenMixerError as e:
            pytest.fail(f"init {init} is a folder in the repository but not a saved model: {e}")
        where = folder / "config.json"
    else:  # a run folder of one's own: its record, named after it
        records = sorted(RECORDS.rglob(f"{Path(init).name}.json"))
        if len(records) != 1:
            pytest.fail(f"init {init} cannot be checked: it is not in the repository, and "
                        f"experiments/records holds {len(records)} records named "
                        f"{Path(init).name}.json (one is needed: the run's evaluation record)")
        record = read_json(records[0])
        if not record.get("architecture"):
            pytest.fail(f"init {init} cannot be checked: its record {records[0]} has no "
                        "architecture")
        architecture, where = record["architecture"], records[0]
    try:
        return VAEConfig.from_dict(architecture), str(Path(where).relative_to(REPO))
    except (TypeError, ValueError) as e:
        pytest.fail(f"init {init}: the architecture in {where} does not load ({e})")


def test_there_are_configs_to_check():
    assert len(CONFIGS) > 10


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_a_config_loads_and_fits_the_model_it_starts_from(path):
    config = ExperimentConfig.read(path)  # what `kitten-mixer train --config` does
    if config.init is None:
        return
    architecture, where = init_architecture(config.init)
    if not config.model.grows_from(architecture):
        pytest.fail(f"{path.name}: its model does not fit init {config.init} (read from "
                    f"{where}): fine-tuning needs the same architecture, or the same less a "
                    f"refine block; the config's {_differences(config.model, architecture)}")


def _differences(model: VAEConfig, init: VAEConfig) -> str:
    mine, theirs = model.to_dict(), init.to_dict()
    return ", ".join(f"{k} is {mine[k]!r} where the init's is {theirs[k]!r}"
                     for k in mine if mine[k] != theirs[k])
