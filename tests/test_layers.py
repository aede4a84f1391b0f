"""The package's layers: every import points down the order the README gives, nothing imports
in a circle (an import inside a function counts), and the app never loads the trainer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kitten_mixer"

# Lowest first, as in the README's map. A module may import from its own part (a folder, or a
# file of the package's top level) and from the layers below its own; parts of one layer do
# not import each other.
LAYERS = [
    ("errors",),
    ("device", "storage", "images", "imagenet"),
    ("model", "loss", "morph", "faces"),
    ("data",),
    ("shipping",),
    ("mixer",),
    ("evaluation", "explore", "ship", "store", "training"),
    ("webapp", "cli_inputs"),
    ("cli",),
]
LAYER = {part: i for i, names in enumerate(LAYERS) for part in names}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = ["kitten_mixer", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The package's modules that a file imports, at its top or inside any function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from kitten_mixer.faces import box` imports the module kitten_mixer.faces.box
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES
                     else node.module for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in MODULES)
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items() if name != "kitten_mixer"}


def part(module: str) -> str:
    return module.split(".")[1]


def test_every_part_of_the_package_has_a_layer():
    assert {part(module) for module in GRAPH} <= set(LAYER)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down_the_layers(module):
    against = [target for target in GRAPH[module] if part(target) != part(module)
               and LAYER[part(target)] >= LAYER[part(module)]]
    assert not against, f"{module} imports {against}, which are not below it"


def test_no_module_imports_itself_through_others():
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = path[path.index(module):] + [module]
            pytest.fail("import circle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(GRAPH.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])


def test_the_checks_see_imports_inside_functions_and_from_packages(tmp_path):
    source = tmp_path / "example.py"
    source.write_text("from kitten_mixer.faces import box\n"
                      "def late():\n    from kitten_mixer.mixer import KittenMixer\n")
    assert imports_of(source) == {"kitten_mixer.faces.box", "kitten_mixer.mixer"}


def test_importing_the_package_or_the_app_does_not_load_the_trainer():
    script = ("import sys, kitten_mixer, kitten_mixer.webapp.core, kitten_mixer.webapp.launch\n"
              "print(sorted(m for m in sys.modules if m.startswith('kitten_mixer.training')))\n"
              "from kitten_mixer import ExperimentConfig, run_experiment, train\n"
              "print(ExperimentConfig.__module__, run_experiment.__module__, train.__module__)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["[]", "kitten_mixer.training.config kitten_mixer.training.experiment "
                         "kitten_mixer.training.original"]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_file_of_the_package_is_too_long_to_read_in_one_sitting(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)}: {lines} lines"
