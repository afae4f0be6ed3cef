"""dmf-numpy: Dense Multimodal Fusion (Hu, Wang, Nie, Li) in pure NumPy.

The models (:class:`DMF`, :class:`IMF`, :class:`EMF`) are sigmoid networks over two modalities
whose backward pass is written by hand after Eqs. 5-8 of the paper; :class:`GenerativeDMF` is
the encoder-decoder variant; :func:`gradcheck` verifies either against finite differences.
:func:`fit` and :func:`evaluate` train and score a classifier on your own arrays,
:func:`fit_generative` the generative variant.

The package is layered, each layer importing only those below it::

    cli  ->  experiments  ->  training, datasets  ->  core   (and files, used by all)

``core/`` is the paper's mathematics in NumPy alone; ``training/`` the optimizers, the epoch
loop and checkpoints; ``datasets/`` the data sets and their checks; ``experiments/`` the
paper's tables and figures; ``cli.py`` the ``dmf-numpy`` command.
"""

from .core.fusion import DMF, EMF, IMF, FusionNet
from .core.generative import GenerativeDMF
from .core.gradcheck import gradcheck
from .training.loop import evaluate, fit, fit_generative
from .training.pretrain import pretrain

__all__ = ["DMF", "EMF", "IMF", "FusionNet", "GenerativeDMF", "evaluate", "fit", "fit_generative", "gradcheck",
           "pretrain"]
__version__ = "0.1.0"
