"""benchmarks/hardware.py: tables printed from a dump (no search is run)."""

from __future__ import annotations

import json

import pytest

import nagen.benchmarks


def test_from_dump_prints_both_tables(tmp_path, capsys, benchmark_script) -> None:
    hw = benchmark_script("hardware")
    nb = nagen.benchmarks.load("nb201")
    arch = nb.space.format(nb.optimum("cifar100_test").arch)
    lat = nb.query(arch, "lat_pixel2_ms")
    archs = [nb.space.format(a) for a in nb.archs[:60]]
    valid = [nb.query(a, "cifar10_valid_12ep") for a in archs]
    records = [
        {"part": 2, "device": "pixel2", "bound": 18, "variant": "test", "seed": 0, "test": nb.query(arch, "cifar100_test"),
         "true_latency": lat, "meets": lat <= 18, "device_measurements": 10},
        {"part": 3, "dataset": "cifar10", "method": "re", "seed": 0, "archs": archs, "valid": valid},
    ]  # fmt: skip
    dump = tmp_path / "hw.jsonl"
    dump.write_text("".join(json.dumps(r) + "\n" for r in records))
    hw.main(["--from-dump", str(dump), "--parts", "2,3"])
    out = capsys.readouterr().out
    assert "searched `cifar100_test`" in out and "searched `cifar100_valid_12ep`" in out
    pixel = next(line for line in out.splitlines() if line.startswith("| pixel2 | ≤ 18 | 1 |"))
    assert f"{nb.query(arch, 'cifar100_test'):.2f} ± 0.00" in pixel
    best = archs[max(range(len(valid)), key=lambda i: (valid[i], -i))]  # first best by validation
    c10 = next(line for line in out.splitlines() if line.startswith("| cifar10 |"))
    assert f"{nb.query(best, 'cifar10_test'):.2f} ± 0.00" in c10 and "`cifar10_valid_12ep`" in c10


def test_twin_pairs_are_identical_networks_and_noise_table_names_pixel2(capsys, benchmark_script) -> None:
    hw = benchmark_script("hardware")
    nb = nagen.benchmarks.load("nb201")
    pairs = hw.twin_pairs(nb)
    assert len(pairs) > 1000
    for i, j in pairs[:50]:
        a, b = nb.archs[int(i)], nb.archs[int(j)]
        assert i != j and a.canonical_hash() == b.canonical_hash() and sorted(a.ops) == sorted(b.ops)
    # identical networks: a deterministic accelerator measures both rows alike, the phone does not
    eyeriss, pixel2 = nb.values("lat_eyeriss_ms"), nb.values("lat_pixel2_ms")
    assert (abs(eyeriss[pairs[:, 0]] - eyeriss[pairs[:, 1]]) < 1e-6).all()
    assert (abs(pixel2[pairs[:, 0]] - pixel2[pairs[:, 1]]) > 0.5).mean() > 0.3
    hw.main(["--parts", "noise"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| pixel2 <= 14 |"))
    assert "| 14.00 | 20.00 | **no** |" in row


def test_split_table_from_dump_and_split_rule_is_restored(tmp_path, capsys, benchmark_script) -> None:
    import nagen.constraints as C

    hw = benchmark_script("hardware")
    records = [
        {"part": "split", "device": d, "quantile": 0.5, "adapt": a, "seed": 0, "label_prob": None, "gap": g,
         "meets": True, "device_measurements": 10}
        for a, g in ((7, -0.6), (5, -0.2)) for d in hw.SPLIT_DEVICES
    ]  # fmt: skip
    dump = tmp_path / "split.jsonl"
    dump.write_text("".join(json.dumps(r) + "\n" for r in records))
    hw.main(["--from-dump", str(dump), "--parts", "split"])
    out = capsys.readouterr().out
    row5 = next(line for line in out.splitlines() if line.startswith("| 5 + 5 |"))
    row7 = next(line for line in out.splitlines() if line.startswith("| 7 + 3 |"))
    assert "-0.200" in row5 and "-0.600" in row7 and "100%" in row5
    rule, prob = C.split_measurements, C.LABEL_PROB
    with hw._split_rule(7, 0.2):
        assert C.split_measurements(10) == (7, 3) and C.LABEL_PROB == 0.2
    assert C.split_measurements is rule and C.LABEL_PROB == prob
    with pytest.raises(SystemExit, match="unknown part"):
        hw.main(["--parts", "4"])


def test_part2_summary_reports_per_seed_gaps_and_their_standard_error(benchmark_script) -> None:
    hw = benchmark_script("hardware")
    pairs = [("pixel2", 18), ("fpga", 5)]
    opt = {p: hw.constrained_optimum(*p)[0] for p in pairs}
    # seed 0 is 1 point short on both pairs, seed 1 reaches both optima, seed 2 ran one pair only
    gap = {0: -1.0, 1: 0.0}
    by_pair = {p: [{"seed": s, "test": opt[p] + g, "meets": True} for s, g in gap.items()] for p in pairs}
    by_pair[pairs[0]].append({"seed": 2, "test": opt[pairs[0]] - 5.0, "meets": True})
    out = hw.part2_summary(by_pair)
    assert "per seed over the 2 pairs: 0: -1.00, 1: +0.00;" in out
    assert "standard error of the mean 0.50" in out  # std(ddof=1) 0.707 / sqrt(2)
    assert "2:" not in out.split("per seed")[1].split(";")[0]
    one = hw.part2_summary({p: runs[:1] for p, runs in by_pair.items()})
    assert "per seed" not in one and "mean gap to the constrained optimum -1.00" in one


def test_from_dump_reads_several_dumps_and_prints_only_the_asked_variants(tmp_path, capsys, benchmark_script) -> None:
    hw = benchmark_script("hardware")
    opt = hw.constrained_optimum("fpga", 5)[0]
    paths = []
    for seed in (0, 1):
        rec = {"part": 2, "device": "fpga", "bound": 5, "variant": "test", "seed": seed, "test": opt - seed,
               "true_latency": 4.5, "meets": True, "device_measurements": 7}  # fmt: skip
        paths.append(tmp_path / f"d{seed}.jsonl")
        paths[-1].write_text(json.dumps(rec) + "\n")
    hw.main(["--from-dump", ",".join(map(str, paths)), "--parts", "2", "--variants", "test"])
    out = capsys.readouterr().out
    assert "searched `cifar100_test`" in out and "cifar100_valid_12ep" not in out
    row = next(line for line in out.splitlines() if line.startswith("| fpga | ≤ 5 | 2 |"))
    assert f"{opt - 0.5:.2f} ± 0.50" in row
    with pytest.raises(SystemExit, match="no such dump"):
        hw.main(["--from-dump", f"{paths[0]},{tmp_path / 'gone.jsonl'}", "--parts", "2"])
    with pytest.raises(SystemExit, match="unknown variant"):
        hw.main(["--from-dump", str(paths[0]), "--parts", "2", "--variants", "valid"])


def test_labellable_ceiling_is_the_best_feasible_cell_the_study_would_label(benchmark_script) -> None:
    import numpy as np

    from nagen.benchmarks import Benchmark
    from nagen.constraints import LABEL_PROB, DeviceFeasibility, parse_constraint
    from nagen.predictors.latency import LatencyPredictor

    hw = benchmark_script("hardware")
    nb = nagen.benchmarks.load("nb201")
    idx = np.random.default_rng(0).permutation(len(nb))[:600]
    cols = {m: nb.values(m)[idx] for m in ("lat_1080ti_1_ms", "lat_silver_4114_ms", "lat_pixel2_ms", "cifar100_test")}
    tab = Benchmark("nb201_slice", nb.space, [nb.archs[i] for i in idx], cols)
    tiny = dict(hidden=16, layers=2, free_features=4, steps_per_epoch=10, episodes_per_step=4, query_size=32, batch_size=64)
    meta = LatencyPredictor("nb201", seed=0, **tiny).meta_fit(tab, devices=["1080ti_1", "silver_4114"], epochs=1)
    bound = float(np.median(cols["lat_pixel2_ms"]))
    c, loose = hw.labellable_ceiling("pixel2", [bound, 1e9], meta=meta, tab=tab, k=10)
    assert loose["best_labellable"] == loose["optimum"] == cols["cifar100_test"].max()  # no bound: everything labellable
    lat, acc = cols["lat_pixel2_ms"], cols["cifar100_test"]
    assert c["optimum"] == acc[lat <= bound].max()
    # recomputed independently: the same feasibility model as the study's, on 5 reference measurements
    sp = nb.space
    measured = {sp.format(a): tab.query(a, "lat_pixel2_ms") for a in meta.reference_archs(5)}
    f = DeviceFeasibility(parse_constraint(f"lat_pixel2_ms<={bound}"), meta, 10, measured, calibration=c["sigma"])
    ok = f.prob_ok(f.predict(list(tab.archs))) >= LABEL_PROB
    assert c["labellable"] == ok.sum() and c["labellable_infeasible"] == (ok & (lat > bound)).sum()
    assert c["best_labellable"] == acc[ok & (lat <= bound)].max() <= c["optimum"]


def test_part3_transfer_run_reads_no_200_epoch_column(monkeypatch, benchmark_script) -> None:
    # the honest transfer row's sources are the other datasets' 12-epoch columns: during the
    # search no *_test column of any dataset may be read (the report comes after, in chosen_test)
    hw = benchmark_script("hardware")
    read: list[str] = []
    original = nagen.benchmarks.Benchmark._check_metric

    def spy(self, metric):
        read.append(metric)
        return original(self, metric)

    monkeypatch.setattr(nagen.benchmarks.Benchmark, "_check_metric", spy)
    rec = hw.plain_run("imagenet16", "transfer", 0, budget=3)
    monkeypatch.undo()
    assert hw.PART3_SOURCES["imagenet16"] == ["cifar10_valid_12ep", "cifar100_valid_12ep"]
    assert read and all(m.endswith("_valid_12ep") for m in read), sorted(set(read))
    assert rec["method"] == "transfer" and 1 <= len(rec["archs"]) <= 3 and len(rec["valid"]) == len(rec["archs"])
    nb = nagen.benchmarks.load("nb201")
    assert rec["valid"] == [nb.query(a, "imagenet16_valid_12ep") for a in rec["archs"]]
    first_best = rec["valid"].index(max(rec["valid"]))
    assert hw.chosen_test(rec, 3) == nb.query(rec["archs"][first_best], "imagenet16_test")


def test_failed_runs_are_counted_and_the_exit_status_is_nonzero(monkeypatch, capsys, benchmark_script) -> None:
    hw = benchmark_script("hardware")
    opt = hw.constrained_optimum("fpga", 5)[0]

    def fake(device, bound, variant, seed):  # seed 1 fails, the others finish
        if seed == 1:
            raise ValueError("boom")
        return {"part": 2, "device": device, "bound": bound, "variant": variant, "seed": seed, "test": opt,
                "true_latency": 4.5, "meets": True, "device_measurements": 7, "seconds": 0.0}  # fmt: skip

    monkeypatch.setattr(hw, "constrained_run", fake)
    with pytest.raises(SystemExit) as exc:
        hw.main(["--parts", "2", "--pairs", "fpga:5", "--variants", "test", "--seeds", "3"])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    row = next(line for line in captured.out.splitlines() if line.startswith("| fpga | ≤ 5 |"))
    assert row.startswith("| fpga | ≤ 5 | 2 |")  # the other runs are kept and printed
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("1 of 3 runs FAILED") and "('fpga', 5, 'test', 1)" in last
    assert "failed: ValueError: boom" in captured.err
    monkeypatch.setattr(hw, "constrained_run", lambda d, b, v, s: fake(d, b, v, 0) | {"seed": s})
    hw.main(["--parts", "2", "--pairs", "fpga:5", "--variants", "test", "--seeds", "2"])  # no failure: returns normally
    assert "FAILED" not in capsys.readouterr().err


def test_part2_titles_say_how_each_variant_searches(benchmark_script) -> None:
    hw = benchmark_script("hardware")
    bo = hw.part2_table([], "test").splitlines()[0]
    transfer = hw.part2_table([], "transfer10").splitlines()[0]
    assert "bo, surrogate gp_wl+zc, zc initial design, 50 labels" in bo
    assert "transfer search from cifar10_test, imagenet16_test" in transfer and "10 labels" in transfer
    assert "bo" not in transfer.split(";")[0] and "gp_wl" not in transfer
