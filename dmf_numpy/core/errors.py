"""The package's one error class for a user's mistake: :class:`UserError`.

Every check that refuses what a user gave (an argument, a file, a data set, a folder) raises it
or a subclass (:class:`~dmf_numpy.training.checkpoint.CheckpointError`,
:class:`~dmf_numpy.datasets.store.DataError`, :class:`~dmf_numpy.files.FolderLocked`, ...). The
command line reports it in one line and exits 2; any other exception is a bug in dmf-numpy, and
the command line shows its traceback and exits 1 (see :mod:`dmf_numpy.cli`).

It lives in ``core/``, the lowest layer, so that every module of the package can raise it.
"""


class UserError(ValueError):
    """What was asked cannot be done as given: the message names the value and says what to change.

    A ``ValueError``, so ``except ValueError`` still catches it.
    """
