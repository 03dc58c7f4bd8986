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
