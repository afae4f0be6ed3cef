"""What the paper states, in one place: its MNIST sizes and the figures of its Tables 1-3.

Every experiment compares itself with these numbers; nothing here is measured.
"""

from __future__ import annotations

from ..core.gradcheck import SMALL_SIZES

PAPER_SIZES = {"x_dims": (392, 512, 128), "y_dims": (392, 512, 128), "shared_dims": (512, 256, 64), "n_classes": 10}
"""The toy MNIST experiment (Sec. 3.1): "the network for each image pathway is [392, 512, 128]
and the shared pathway is [512, 256, 64]", with a softmax head over the 10 digits."""

PAPER_TABLE1 = {
    ("left+right", "emf"): (1.90, 2.60, 4.70, 12.20),
    ("left+right", "imf"): (1.60, 2.40, 5.40, 10.20),
    ("left+right", "dmf"): (1.40, 2.30, 4.60, 9.40),
    ("right", "emf"): (51.00, 53.50, 63.40, 70.30),
    ("right", "imf"): (51.30, 54.30, 63.30, 82.90),
    ("right", "dmf"): (39.90, 47.60, 57.10, 67.60),
}
"""Table 1: test error in % at 0 / 30 / 50 / 70 % damage of the right half, per input and model."""

PAPER_TABLE2 = {
    "AAM": {"A": 15.2, "V": None, "A+V": None},
    "MDAE": {"A": None, "V": None, "A+V": 67.89},
    "MDBN": {"A": None, "V": None, "A+V": 54.1},
    "CRBM": {"A": None, "V": None, "A+V": 74.08},
    "RTMRBM": {"A": 75.85, "V": 31.21, "A+V": 74.77},
    "CorrRNN": {"A": 81.36, "V": 60.17, "A+V": 76.32},
    "DMF": {"A": 86.43, "V": 75.87, "A+V": 80.43},
}
"""Table 2: accuracy (%) on AVLetters2, a data set not available here ("-" is None)."""

PAPER_TABLE3 = {
    "CCA": {"I2T": 0.2490, "T2I": 0.1960},
    "CMFH": {"I2T": 0.2551, "T2I": 0.5407},
    "LCFS": {"I2T": 0.2798, "T2I": 0.2141},
    "Corr-Full-AE": {"I2T": 0.2634, "T2I": 0.5418},
    "DMF": {"I2T": 0.2921, "T2I": 0.5612},
}
"""Table 3: mAP of each method on the Wikipedia features."""


#: Entries sampled per tensor by the paper-size gradient check (``dmf-numpy gradcheck --entries``).
SAMPLED_ENTRIES = 20


def gradcheck_setups(entries=SAMPLED_ENTRIES, small_only=False):
    """The setups of ``dmf-numpy gradcheck`` (see :func:`dmf_numpy.core.gradcheck.check_suite`):
    every entry on :data:`~dmf_numpy.core.gradcheck.SMALL_SIZES`, and ``entries`` sampled entries
    per tensor at the paper's sizes (skipped with ``small_only``)."""
    setups = [("small", SMALL_SIZES, None)]
    if not small_only:
        setups.append(("paper", PAPER_SIZES, entries))
    return setups
