"""The data sets: where they are found (:mod:`.store`), MNIST and other IDX files (:mod:`.mnist`),
the two MNIST halves of the toy experiment (:mod:`.halves`), your own arrays (:mod:`.arrays`),
the Wikipedia features (:mod:`.wiki`), the spoken digits (:mod:`.fsdd`) and their audio
features (:mod:`.audio`). Imports only :mod:`dmf_numpy.files`, never the models or the training."""

from .arrays import Splits, load_arrays
from .halves import CONDITIONS, apply_condition, damage, load_halves, make_halves, split_halves
from .mnist import load_mnist, read_idx, read_idx_folder
from .store import DataError, MissingDataError

__all__ = ["CONDITIONS", "DataError", "MissingDataError", "Splits", "apply_condition", "damage", "load_arrays",
           "load_halves", "load_mnist", "make_halves", "read_idx", "read_idx_folder", "split_halves"]
