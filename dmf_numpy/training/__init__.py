"""Training on arrays: the optimizers, the epoch loop (``fit``, ``fit_generative``, ``evaluate``),
generative pretraining and checkpoints. Imports only :mod:`dmf_numpy.core` and :mod:`dmf_numpy.files`."""
