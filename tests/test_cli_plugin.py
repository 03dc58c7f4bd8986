"""``nagen --plugin MODULE`` / ``NAGEN_PLUGINS``: a user's registered space is usable from the CLI."""

from __future__ import annotations

import json
import os
import sys
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
def isolated(monkeypatch):
    """The CLI's plugin side effects (sys.path, PYTHONPATH, sys.modules) undone after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("NAGEN_PLUGINS", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    yield monkeypatch
    for module in [m for m in sys.modules if m.startswith(("nagen_plugin_", "nagen_bad_plugin_"))]:
        del sys.modules[module]


@pytest.fixture
def plugin(tmp_path, isolated):
    """(module name, file path, space name) of a fresh plugin file; unregistered afterwards."""
    name = f"chain_{uuid.uuid4().hex[:8]}"
    module = f"nagen_plugin_{name}"
    path = tmp_path / f"{module}.py"
    path.write_text(textwrap.dedent(PLUGIN.format(name=name)))
    yield module, path, name
    if name in nagen.spaces.registry:
        nagen.spaces.registry.remove(name)
    nagen.spaces._instances.pop(name, None)


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_a_plugin_file_makes_its_space_usable(plugin, isolated, capsys) -> None:
    module, path, name = plugin
    assert main(["--plugin", str(path), "info", "--space", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == name
    # the file's folder is importable, here and in child processes (workers re-import a plugin by name)
    assert sys.path[0] == str(path.parent) and str(path.parent) in os.environ["PYTHONPATH"].split(os.pathsep)
    assert sys.modules[module].__file__ == str(path)
    # the same file again (flag and environment both) is imported once: no "already registered" error
    isolated.setenv("NAGEN_PLUGINS", str(path))
    assert main(["--plugin", str(path), "generate", "--space", name, "--method", "random", "--n", "3", "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert len(rows) == 3 and all(r["arch"] for r in rows)


def test_a_plugin_module_name_before_or_after_the_command(plugin, monkeypatch, capsys) -> None:
    module, path, name = plugin
    monkeypatch.syspath_prepend(str(path.parent))
    assert main(["--plugin", module, "sample", "--space", name, "--n", "3", "--seed", "1", "--json"]) == 0
    assert len(_json_lines(capsys.readouterr().out)) == 3
    assert main(["generate", "--space", name, "--method", "random", "--n", "3", "--json", "--plugin", module]) == 0
    assert len(_json_lines(capsys.readouterr().out)) == 3


def test_a_plugin_after_the_command_alone(plugin, capsys) -> None:
    _, path, name = plugin
    assert main(["info", "--space", name, "--plugin", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["description"] == "plugin chain"


def test_the_environment_variable(plugin, monkeypatch, capsys) -> None:
    module, path, name = plugin
    monkeypatch.syspath_prepend(str(path.parent))
    monkeypatch.setenv("NAGEN_PLUGINS", f" {module} ,")
    assert main(["generate", "--space", name, "--method", "random", "--n", "3", "--json"]) == 0
    assert len(_json_lines(capsys.readouterr().out)) == 3
    assert main(["spaces", "--json"]) == 0
    assert name in [r["name"] for r in _json_lines(capsys.readouterr().out)]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nagen: error: "), err
    return err


def test_a_missing_plugin_is_one_line(isolated, tmp_path, capsys) -> None:
    assert main(["--plugin", "no_such_module_xyz", "spaces"]) == 2
    err = _one_error_line(capsys)
    assert "plugin 'no_such_module_xyz' could not be imported: ModuleNotFoundError" in err
    isolated.setenv("NAGEN_PLUGINS", "no_such_module_env_xyz")
    assert main(["spaces"]) == 2
    assert "plugin 'no_such_module_env_xyz'" in _one_error_line(capsys)
    isolated.delenv("NAGEN_PLUGINS")
    missing = tmp_path / "nope.py"
    assert main(["--plugin", str(missing), "spaces"]) == 2
    assert f"plugin {str(missing)!r} could not be imported: FileNotFoundError" in _one_error_line(capsys)


def test_a_plugin_that_raises_is_one_line_naming_the_cause(isolated, tmp_path, capsys) -> None:
    module = f"nagen_bad_plugin_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{module}.py"
    path.write_text('raise RuntimeError("broken plugin\\nsecond line")\n')
    assert main(["--plugin", str(path), "spaces"]) == 2
    assert "could not be imported: RuntimeError: broken plugin second line" in _one_error_line(capsys)
    assert module not in sys.modules
    bad_syntax = tmp_path / f"{module}_syntax.py"
    bad_syntax.write_text("def (:\n")
    assert main(["--plugin", str(bad_syntax), "spaces"]) == 2
    assert "SyntaxError" in _one_error_line(capsys)


def test_a_plugin_file_named_like_an_imported_module_is_refused(isolated, tmp_path, capsys) -> None:
    (tmp_path / "json.py").write_text("raise AssertionError('must not run')\n")
    assert main(["--plugin", str(tmp_path / "json.py"), "spaces"]) == 2
    assert "a module named 'json' is already imported" in _one_error_line(capsys)


def test_unknown_space_and_generator_hint_at_plugins(isolated, capsys) -> None:
    assert main(["info", "--space", "no_such_space_xyz"]) == 2
    err = _one_error_line(capsys)
    assert "no_such_space_xyz" in err and "(load your own module with --plugin MODULE or NAGEN_PLUGINS)" in err
    assert main(["generate", "--method", "no_such_generator_xyz", "--n", "1", "--quiet"]) == 2
    err = _one_error_line(capsys)
    assert "no_such_generator_xyz" in err and "--plugin MODULE" in err
    # other errors get no hint
    assert main(["sample", "--space", "nb201", "--n", "-1"]) == 2
    assert "--plugin" not in _one_error_line(capsys)
