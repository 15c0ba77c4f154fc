"""``python -m simulator`` is ``commsim``."""

import sys

from simulator.cli import console

sys.exit(console())
