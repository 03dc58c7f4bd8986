"""``examples/my_spaces.py``, the plugin the README and ``nagen --help`` name, works from the CLI."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from cli_run import run_cli

import nagen.spaces

PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "my_spaces.py"


@pytest.fixture
def loaded_plugin(monkeypatch):
    """Undo the plugin's global effects: its registration, its module and the CLI's path edits."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("NAGEN_PLUGINS", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    assert "chain4" not in nagen.spaces.registry.names(), "chain4 registered before the plugin was loaded"
    yield
    if "chain4" in nagen.spaces.registry.names():
        nagen.spaces.registry.remove("chain4")
    nagen.spaces._instances.pop("chain4", None)
    sys.modules.pop("my_spaces", None)


def test_the_readme_plugin_registers_chain4(loaded_plugin, capsys) -> None:
    assert run_cli(["--plugin", str(PLUGIN), "info", "--space", "chain4"]) == 0
    out = capsys.readouterr().out
    assert "chain4" in out and "81" in out
    assert run_cli(["--plugin", str(PLUGIN), "info", "--space", "chain4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["name"], info["size"], info["fixed_topology"]) == ("chain4", 81, True)
    assert info["ops"] == ["conv3x3", "conv1x1", "skip"]


def test_the_readme_generate_line(loaded_plugin, capsys) -> None:
    assert run_cli(["--plugin", str(PLUGIN), "generate", "--space", "chain4", "--method", "random", "--n", "10", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    space = nagen.spaces.get("chain4")
    assert len(rows) == 10 and all(space.is_valid(r["arch"]) for r in rows)
