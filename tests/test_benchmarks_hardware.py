"""benchmarks/hardware.py: tables printed from a dump (no search is run)."""

from __future__ import annotations

import json

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
