"""``python -m simulator`` is ``commsim``."""

import sys

from simulator.cli import main

sys.exit(main())
