"""benchmarks/transfer_generation.py end to end in a tiny configuration: every row runs and prints."""

from __future__ import annotations


def test_tiny_run_prints_every_row(benchmark_script, tmp_path, capsys) -> None:
    bench = benchmark_script("transfer_generation")
    bench.main(["--seeds", "1", "--n", "8", "--epochs", "1", "--labels", "4", "--gnn-labels", "10",
                "--datasets", "cifar100", "--cache-dir", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert "## target cifar100 (sources cifar10_test, imagenet16_test; target labels from cifar100_valid_12ep" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| generator")]
    names = [r.split(" | ")[0][2:] for r in rows]
    assert names == [
        "random", "diffusion", "diffusion + GNN (10 target labels)", "diffusion + meta, zero-shot",
        "diffusion + meta, 4 target labels", "top-n of the space by the zero-shot meta-predictor (no generator)",
    ]  # fmt: skip
    labels = [int(r.split(" | ")[1]) for r in rows]
    assert labels == [0, 0, 10, 0, 4, 0]
    for r in rows:  # accuracies are CIFAR-100 test values, read from the table
        mean = float(r.split(" | ")[2].split(" ± ")[0])
        assert 0.0 < mean <= 73.6


def test_tiny_pool_part_compares_three_pools_per_method(benchmark_script, tmp_path, capsys) -> None:
    from nagen.study import ProposalContext

    enumerated = ProposalContext.enumerated
    bench = benchmark_script("transfer_generation")
    bench.main(["--parts", "pool", "--seeds", "1", "--epochs", "1", "--datasets", "cifar10", "--pool-size", "20",
                "--generated", "8", "--budget", "5", "--cache-dir", str(tmp_path)])  # fmt: skip
    assert ProposalContext.enumerated is enumerated  # the emulation is undone
    out = capsys.readouterr().out
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| consensus") or line.startswith("| meta")]
    assert [(r[0][2:], r[1]) for r in rows] == [
        (m, p) for m in ("consensus", "meta") for p in ("random 20", "random 20 + 8 generated", "random 28")
    ]
    for r in rows:
        assert 0 < float(r[2]) <= 94.37 and r[3].endswith("/1 |")


def test_pool_table_is_well_formed_for_a_budget_below_five(benchmark_script) -> None:
    bench = benchmark_script("transfer_generation")
    assert bench.pool_marks(20) == [5, 10, 20] and bench.pool_marks(3) == [3] and bench.pool_marks(7) == [5]
    rows = [("consensus", "random 20", {3: [90.0, 92.0]}, 1)]
    lines = bench.pool_table(rows, 2).splitlines()
    assert lines == [
        "| method | candidates per round | best@3 | reached the optimum |",
        "|---|---|---|---|",
        "| consensus | random 20 | 91.00 | 1/2 |",
    ]


def test_random_row_keeps_one_cell_per_equivalence_class(nb201, benchmark_script) -> None:
    bench = benchmark_script("transfer_generation")
    seen: dict[str, object] = {}
    for a in nb201.archs:  # two different cells of one class
        other = seen.setdefault(a.canonical_hash(), a)
        if other is not a and str(other) != str(a):
            break
    c = next(x for x in nb201.archs if x.canonical_hash() != a.canonical_hash())
    assert bench.distinct_classes([other, a, c, a], 3) == [other, c]
    assert bench.distinct_classes([other, a, c], 1) == [other]
