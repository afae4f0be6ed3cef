"""``python -m dmf_numpy`` runs the ``dmf-numpy`` command line."""

import sys

from .cli import main

sys.exit(main())
