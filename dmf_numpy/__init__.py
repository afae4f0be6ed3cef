"""dmf-numpy: Dense Multimodal Fusion (Hu, Wang, Nie, Li) in pure NumPy.

The models (:class:`DMF`, :class:`IMF`, :class:`EMF`) are sigmoid networks over two modalities
whose backward pass is written by hand after Eqs. 5-8 of the paper; :func:`gradcheck` verifies
it against finite differences.
"""

from .finite_differences import gradcheck
from .model import DMF, EMF, IMF, FusionNet

__all__ = ["DMF", "EMF", "IMF", "FusionNet", "gradcheck"]
__version__ = "0.1.0"
