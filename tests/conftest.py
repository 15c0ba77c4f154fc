"""Test-session settings shared by every test module.

The validated-input cache (:mod:`simulator.core.validated`) goes to a folder of this session,
so that tests neither read nor fill the user's cache (child processes inherit it).
"""

from __future__ import annotations

import os
import tempfile

os.environ["COMMSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="commsim-test-cache-")
