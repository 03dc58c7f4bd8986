"""benchmarks/search.py: the table printed from dumped runs (no search is run)."""

from __future__ import annotations

import json

import pytest

import nagen.benchmarks


def test_from_dump_merges_files_and_counts_a_seed_once(tmp_path, capsys, benchmark_script) -> None:
    bench = benchmark_script("search")
    opt = nagen.benchmarks.load("nb201").optimum("cifar10_test").value
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    # seed 0 finds the optimum at label 3; seed 1 never does (best 90.0); seed 1 is dumped twice
    a.write_text(json.dumps({"dataset": "cifar10_test", "method": "opgfn", "seed": 0, "values": [80.0, 85.0, opt]}) + "\n")
    run1 = json.dumps({"dataset": "cifar10_test", "method": "opgfn", "seed": 1, "values": [70.0] * 99 + [90.0]}) + "\n"
    b.write_text(run1 + run1 + json.dumps({"dataset": "cifar10_test", "method": "re", "seed": 0, "values": [1.0]}) + "\n")
    bench.main(["--from-dump", f"{a},{b}", "--methods", "opgfn", "--datasets", "cifar10_test"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| cifar10_test | opgfn |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "2"  # two seeds, the duplicate counted once
    assert cells[3] == f"{(opt + 70.0) / 2:.2f} ± {abs(opt - 70.0) / 2:.2f}"  # best@25 (a run stops at the optimum)
    assert cells[5] == f"{(opt + 90.0) / 2:.2f} ± {abs(opt - 90.0) / 2:.2f}"  # best@100
    assert cells[7] == "1/2" and cells[9] == "50%" and cells[-1] == "0-1"
    assert "| re |" not in out  # rows are selected by --methods


def test_transfer_ceiling_ranks_the_optimum_under_the_sources(capsys, benchmark_script) -> None:
    search = benchmark_script("search")
    search.main(["--transfer-ceiling"])
    rows = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == {"cifar10_test", "cifar100_test", "imagenet16_test"}
    # ImageNet16's optimum is 11th on CIFAR-100 and no mix of the two sources ranks it higher
    assert "cifar100_test: 11" in rows["imagenet16_test"] and "| 11 (w = 0.00" in rows["imagenet16_test"]


def test_min_rank_scores_interleave_the_sources_top_lists(benchmark_script) -> None:
    import types

    import numpy as np

    search = benchmark_script("search")
    # two sources that disagree: source 0 ranks cells 0,1,2,3,...; source 1 ranks them backwards
    n = 6
    ranks = np.stack([np.arange(1, n + 1), np.arange(n, 0, -1)], 1).astype(float)
    c = types.SimpleNamespace(ranks=ranks, mean_rank=ranks.mean(1))
    order = list(np.argsort(-search.min_rank_scores(c), kind="stable"))
    assert order[:4] in ([0, 5, 1, 4], [5, 0, 4, 1])  # each source's best, then each one's second
    # the Borda mean rank ties every cell here: it cannot tell the tops apart
    assert np.ptp(c.mean_rank) == 0


def test_transfer_aggregates_rejects_an_unknown_family(benchmark_script) -> None:
    search = benchmark_script("search")
    with pytest.raises(SystemExit, match="unknown column family 'valdi'"):
        search.main(["--transfer-aggregates", "test,valdi"])
