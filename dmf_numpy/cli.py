"""The ``dmf-numpy`` command line (also ``python -m dmf_numpy``).

Each subcommand is a function ``cmd_<name>(args) -> int`` registered in :func:`build_parser`.
Bad arguments and bad data end in a one-line error and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .finite_differences import BOUND, format_errors, gradcheck
from .model import MODELS

#: Sizes of the paper's MNIST experiment (Sec. 3.1).
PAPER_SIZES = {"x_dims": (392, 512, 128), "y_dims": (392, 512, 128),
               "shared_dims": (512, 256, 64), "n_classes": 10}
#: Small, unequal sizes on which every entry of every tensor is checked.
SMALL_SIZES = {"x_dims": (6, 5, 4), "y_dims": (7, 5, 3), "shared_dims": (5, 4, 3), "n_classes": 3}


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


def _model_names(choice):
    return sorted(MODELS, key=list(MODELS).index) if choice == "all" else [choice]


def cmd_gradcheck(args):
    """Check every model's gradients on small sizes (all entries) and paper sizes (a sample)."""
    setups = [("small", SMALL_SIZES, None)]
    if not args.small_only:
        setups.append(("paper", PAPER_SIZES, args.entries))
    worst = 0.0
    for name in _model_names(args.model):
        for label, sizes, max_entries in setups:
            rng = np.random.default_rng(args.seed)
            n = args.batch
            x = rng.uniform(size=(n, sizes["x_dims"][0]))
            y = rng.uniform(size=(n, sizes["y_dims"][0]))
            labels = rng.integers(0, sizes["n_classes"], size=n)
            model = MODELS[name](**sizes, seed=args.seed, dtype=np.float64)
            start = time.perf_counter()
            errors = gradcheck(model, x, y, labels, max_entries=max_entries, seed=args.seed)
            seconds = time.perf_counter() - start
            entries = "all entries" if max_entries is None else f"{max_entries} sampled entries per tensor"
            print(f"\n{name.upper()}, {label} sizes {sizes['x_dims']}/{sizes['y_dims']}/"
                  f"{sizes['shared_dims']}, batch {n}, {entries} ({seconds:.1f} s)")
            print(format_errors(errors))
            worst = max(worst, max(errors.values()))
    verdict = "ok" if worst < BOUND else "FAILED"
    print(f"\nworst relative error {worst:.2e} (bound {BOUND:.0e}): {verdict}")
    return 0 if worst < BOUND else 1


def build_parser():
    parser = argparse.ArgumentParser(
        prog="dmf-numpy",
        description="Dense Multimodal Fusion in pure NumPy: gradient checks and the paper's experiments.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("gradcheck", help="check the hand-written gradients against finite differences",
                            description=cmd_gradcheck.__doc__)
    p.add_argument("--model", choices=["emf", "imf", "dmf", "all"], default="all")
    p.add_argument("--entries", type=int, default=20,
                   help="entries sampled per tensor at the paper's sizes (default: %(default)s)")
    p.add_argument("--batch", type=int, default=4, help="batch size (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--small-only", action="store_true", help="skip the paper-size check")
    p.set_defaults(func=cmd_gradcheck)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ValueError, OSError) as err:
        print(f"dmf-numpy {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ndmf-numpy {args.command}: interrupted", file=sys.stderr)
        return 130
