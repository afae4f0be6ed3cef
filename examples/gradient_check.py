"""The gradient check on tiny models: the hand-written backward pass of EMF, IMF and DMF against
fourth-order centered finite differences, every entry of every tensor, in float64.

    python examples/gradient_check.py                      # every tensor "ok"
    python examples/gradient_check.py --drop-shared-path   # DMF without Eq. 5's second term: FAIL

Exits with status 1 if a relative error exceeds the bound.
"""
import argparse
import sys

import numpy as np

import dmf_numpy.core.fusion
from dmf_numpy import DMF, EMF, IMF, gradcheck
from dmf_numpy.core.gradcheck import BOUND, format_errors, worst_error

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--drop-shared-path", action="store_true",
                    help="break the backward pass: keep only the modality path of Eq. 5 where both exist")
args = parser.parse_args()
if args.drop_shared_path:
    keep = dmf_numpy.core.fusion.eq5_fork
    dmf_numpy.core.fusion.eq5_fork = lambda modality, shared: keep(modality, None if modality is not None else shared)

rng = np.random.default_rng(0)
x, y, labels = rng.uniform(size=(4, 6)), rng.uniform(size=(4, 7)), np.array([0, 1, 2, 1])
worst = []  # the worst error of each model
for cls in (EMF, IMF, DMF):
    model = cls(x_dims=(6, 5, 4), y_dims=(7, 5, 3), shared_dims=(5, 4, 3), n_classes=3, dtype=np.float64)
    errors = gradcheck(model, x, y, labels)
    print(f"\n{cls.__name__}: {model.n_params} parameters, every entry checked")
    print(format_errors(errors))
    worst.append(worst_error(errors))
worst = worst_error(worst)
print(f"\nworst relative error {worst:.2e} (bound {BOUND:.0e}): {'ok' if worst < BOUND else 'FAILED'}")
sys.exit(0 if worst < BOUND else 1)
