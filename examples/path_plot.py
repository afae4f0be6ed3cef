"""How much gradient each learning path of Fig. 2 carries while DMF and IMF learn the MNIST halves.

Trains both models, measures after every epoch the two terms of Eq. 5 at every layer on a probe
batch, and writes OUT/paths.png and OUT/paths.csv (see dmf_numpy/experiments/path_experiment.py).

    python examples/path_plot.py --damage 0.5 --epochs 3 --subset 5000 --out results/paths
"""
import argparse
from pathlib import Path

from dmf_numpy.experiments.path_experiment import run_path_experiment

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--damage", type=float, default=0.5,
                    help="fraction of right-half pixels zeroed (default: %(default)s)")
parser.add_argument("--epochs", type=int, default=3, help="(default: %(default)s)")
parser.add_argument("--subset", type=int, default=5000, help="samples per split (default: %(default)s)")
parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
parser.add_argument("--out", type=Path, default=Path("results/paths"),
                    help="output folder (default: %(default)s)")
parser.add_argument("--data-dir", type=Path,
                    help="folder holding MNIST (default: $DMF_NUMPY_DATA, else the user cache)")
args = parser.parse_args()

rows = run_path_experiment(args.out, damage=args.damage, epochs=args.epochs, subset=args.subset, seed=args.seed,
                           data_dir=args.data_dir)
last = {(r["model"], r["layer"]): r for r in rows if r["epoch"] == args.epochs}
print(f"\nAfter epoch {args.epochs}: the shared path's share of Eq. 5 "
      "(0 = modality path only, 1 = shared path only)")
for layer in sorted({layer for _, layer in last if layer.startswith("h_")}):
    dmf, imf = (last[model, layer]["shared_share"] for model in ("dmf", "imf"))
    print(f"  {layer}:  DMF {dmf:.2f}   IMF {imf:.2f}")
