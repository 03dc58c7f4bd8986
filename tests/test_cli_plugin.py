"""``nagen --plugin MODULE`` / ``NAGEN_PLUGINS``: a user's registered space is usable from the CLI."""

from __future__ import annotations

import json
import textwrap
import uuid

import pytest

import nagen.spaces
from nagen.cli import main

PLUGIN = '''
import itertools
import nagen.spaces
from nagen.errors import InvalidArchitectureError
from nagen.graph import INPUT, OUTPUT, ArchGraph
from nagen.spaces.base import SearchSpace

EDGES = tuple((i, i + 1) for i in range(4))


@nagen.spaces.register("{name}")
class Chain(SearchSpace):
    """A user's chain of three nodes, two ops each."""

    name = "{name}"
    ops = ("conv3", "skip")
    max_nodes = 5
    fixed_topology = True
    description = "plugin chain"

    @property
    def size(self):
        return 8

    def _check(self, arch):
        if arch.num_nodes != 5 or arch.edges != EDGES:
            raise InvalidArchitectureError("a chain of 5 nodes")

    def _build(self, arch, num_classes, **options):
        from torch import nn

        return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

    def _sample_one(self, rng):
        return ArchGraph((INPUT, *(self.ops[i] for i in rng.integers(0, 2, size=3)), OUTPUT), EDGES)

    def _enumerate(self):
        for ops in itertools.product(self.ops, repeat=3):
            yield ArchGraph((INPUT, *ops, OUTPUT), EDGES)
'''


@pytest.fixture
def plugin(tmp_path):
    """(module name, file path, space name) of a fresh plugin file; unregistered afterwards."""
    name = f"chain_{uuid.uuid4().hex[:8]}"
    module = f"nagen_plugin_{name}"
    path = tmp_path / f"{module}.py"
    path.write_text(textwrap.dedent(PLUGIN.format(name=name)))
    yield module, path, name
    if name in nagen.spaces.registry:
        nagen.spaces.registry.remove(name)


def test_a_plugin_file_makes_its_space_usable(plugin, capsys) -> None:
    _, path, name = plugin
    assert main(["--plugin", str(path), "info", "--space", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == name
    assert main(["generate", "--space", name, "--method", "random", "--n", "3", "--json"]) == 0  # registered now
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 3


def test_a_plugin_module_name_and_the_environment_variable(plugin, monkeypatch, capsys) -> None:
    module, path, name = plugin
    monkeypatch.syspath_prepend(str(path.parent))
    monkeypatch.setenv("NAGEN_PLUGINS", f" {module} ,")
    assert main(["sample", "--space", name, "--n", "2", "--json"]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if line.strip()]) == 2


def test_a_missing_plugin_is_one_line_and_an_unknown_space_hints_at_plugins(capsys) -> None:
    assert main(["--plugin", "no_such_module_xyz", "spaces"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plugin 'no_such_module_xyz' could not be imported: ModuleNotFoundError" in err
    assert main(["info", "--space", "no_such_space_xyz"]) == 2
    assert "--plugin MODULE" in capsys.readouterr().err
