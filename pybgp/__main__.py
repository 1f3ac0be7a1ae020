"""``python -m pybgp`` is the ``pybgp`` command."""

import sys

from pybgp.cli import main

sys.exit(main())
