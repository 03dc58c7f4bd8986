"""benchmarks/gflownet.py: the single-objective target line (no search is run)."""

from __future__ import annotations

import numpy as np
import pytest


def test_target_line_three_decimals_and_ties_at_the_optimum(benchmark_script) -> None:
    bench = benchmark_script("gflownet")
    opt = 94.373
    runs = {
        # budget 2: OP-GFN 94.3725 vs RE 94.3715, 94.37 both at two decimals; budget 3: both at the optimum
        "OP-GFN": [np.array([90.0, 94.372, opt]), np.array([91.0, opt, opt])],
        "RE": [np.array([92.0, 94.370, opt]), np.array([93.0, opt, 94.0])],
    }
    line = bench.target_line(runs, [1, 2, 3], opt)
    assert "@1 90.500 vs 92.500 (**does not beat**)" in line
    assert "@2 94.373 vs 94.371 (beats)" in line
    assert "@3 94.373 vs 94.373 (tie at the optimum: every seed of both labelled it)" in line
    assert bench.target_line({"OP-GFN": runs["OP-GFN"]}, [1], opt) == ""  # RE not run: no target line


def test_method_names_with_commas_are_parsed_back_and_unknown_ones_named(benchmark_script) -> None:
    gfn = benchmark_script("gflownet")
    names = gfn.parse_method_names("BO (level-wise EI), values + ranks,random,BO (level-wise EI)", gfn.MO_METHODS)
    assert names == ["BO (level-wise EI), values + ranks", "random", "BO (level-wise EI)"]
    with pytest.raises(SystemExit, match="unknown --mo-methods 'MO-GA'"):
        gfn.parse_method_names("random,MO-GA", gfn.MO_METHODS)
