"""dmf-numpy: Dense Multimodal Fusion (Hu, Wang, Nie, Li) in pure NumPy.

The models (:class:`DMF`, :class:`IMF`, :class:`EMF`) are sigmoid networks over two modalities
whose backward pass is written by hand after Eqs. 5-8 of the paper; :class:`GenerativeDMF` is
the encoder-decoder variant; :func:`gradcheck` verifies either against finite differences.
:func:`fit` and :func:`evaluate` train and score a classifier on your own arrays,
:func:`fit_generative` the generative variant.

The package is layered, each layer importing only those below it (``tests/test_layout.py``)::

    cli  ->  experiments, course  ->  training, datasets  ->  files, npz  ->  core

``core/`` is the paper's mathematics in NumPy alone (read ``core/one_page.py`` first);
``files.py`` and ``npz.py`` atomic writes, the run lock and ``.npz`` archives; ``training/`` the
optimizers, the epoch loop and checkpoints; ``datasets/`` the data sets and their checks;
``experiments/`` the paper's tables and figures; ``course/`` the exercises and their grader;
``cli.py`` the ``dmf-numpy`` command. The README's "Layout" lists every module.
"""


import importlib

#: The public names and the modules that define them, imported on first use (PEP 562), so that
#: ``import dmf_numpy.cli`` runs nothing but the command line until it starts a command.
_EXPORTS = {"DMF": ".core.fusion", "EMF": ".core.fusion", "IMF": ".core.fusion", "FusionNet": ".core.fusion",
            "GenerativeDMF": ".core.generative", "gradcheck": ".core.gradcheck", "evaluate": ".training.loop",
            "fit": ".training.loop", "fit_generative": ".training.loop", "pretrain": ".training.pretrain"}

__all__ = list(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS})
