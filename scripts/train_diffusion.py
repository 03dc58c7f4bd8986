"""Train the diffusion generator on a whole space and ship the checkpoint as package data.

    python scripts/train_diffusion.py [--space nb201] [--steps 3000] [--hidden 32] [--layers 2]

Writes ``nagen/data/diffusion_<space>.pt`` (loaded by ``DiffusionGenerator.pretrained``) and
prints the training time and final loss. Deterministic for a given seed and torch version.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from nagen.generators.diffusion import DiffusionGenerator


def main() -> None:
    """Train and save."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = DiffusionGenerator(args.space, hidden=args.hidden, layers=args.layers, heads=args.heads, seed=args.seed)
    t = time.perf_counter()
    gen.fit(steps=args.steps, batch_size=args.batch_size, progress=True)
    dt = time.perf_counter() - t
    out = Path(args.out or Path(__file__).resolve().parents[1] / "nagen" / "data" / f"diffusion_{args.space}.pt")
    gen.save(out)
    n_params = sum(p.numel() for p in gen.net.parameters())
    print(
        f"trained on {gen.trained_on:,} archs in {dt:.1f} s ({args.threads} threads), "
        f"final loss {np.mean(gen.loss_history[-100:]):.4f}, {n_params:,} parameters -> {out} "
        f"({out.stat().st_size / 1e3:.0f} kB)"
    )


if __name__ == "__main__":
    main()
