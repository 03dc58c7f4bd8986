"""A JSON spec file path works wherever a space name does."""

from __future__ import annotations

import json
import pathlib

import pytest

import nagen
import nagen.cli
import nagen.spaces
from nagen.errors import UnknownSpaceError

SPEC = pathlib.Path(__file__).resolve().parents[2] / "examples" / "spaces" / "tiny_dag.json"


def test_get_reads_a_spec_file_once_per_version(tmp_path) -> None:
    sp = nagen.spaces.get(str(SPEC))
    assert sp.name == json.loads(SPEC.read_text())["name"] and sp.size == 5736
    assert nagen.spaces.get(str(SPEC)) is sp  # one instance: identity checks between its users hold
    assert sp == nagen.spaces.from_spec(str(SPEC))
    copy = tmp_path / "mine.json"
    copy.write_text(SPEC.read_text())
    assert nagen.spaces.get(str(copy)) == sp


def test_unknown_spec_file_names_what_a_space_may_be() -> None:
    with pytest.raises(UnknownSpaceError, match="no space spec file 'nope.json'.*nb201"):
        nagen.spaces.get("nope.json")


def test_generate_and_cli_take_the_path(capsys) -> None:
    out = nagen.generate(str(SPEC), n=3, method="random", seed=0)
    sp = nagen.spaces.get(str(SPEC))
    assert len(out) == 3 and all(sp.validate(g.string) for g in out)
    nagen.cli.main(["sample", "--space", str(SPEC), "--n", "2", "--json"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(lines) == 2 and all(sp.validate(r["arch"]) for r in lines)
