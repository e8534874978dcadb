"""Does dropnet learn the Sonar tutorial's models as well as PyTorch does? Runs the three
configurations (10 folds x 300 epochs) in both, on the same folds, for several CV seeds,
and prints the mean fold accuracy per seed and overall.

    python bench/sonar_accuracy.py [--seeds 0,1,2,3,4] [--epochs 300]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from dropnet.bench.workloads.sonar import CONFIGS, FOLDS, cross_validate


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--seeds", default="0,1,2,3,4", help="CV seeds, comma-separated (default 0,1,2,3,4)"
    )
    p.add_argument("--epochs", type=int, default=300, help="epochs per fold (default 300)")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    print(
        f"{'config':<9} {'framework':<8} "
        + " ".join(f"seed {s:<3}" for s in seeds)
        + "   mean   (min-max)"
    )
    for config in CONFIGS:
        for name in ("dropnet", "torch"):
            means = [
                100
                * float(np.mean(cross_validate(name, config, args.epochs, FOLDS, s, 1)["fold_acc"]))
                for s in seeds
            ]
            cells = " ".join(f"{m:7.2f}%" for m in means)
            print(
                f"{config:<9} {name:<8} {cells}  {np.mean(means):6.2f}% ({min(means):.2f}-{max(means):.2f})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
