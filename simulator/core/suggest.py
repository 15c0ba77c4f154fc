""" "Did you mean": the known name closest to what a user typed, for every unknown-name message.

Names are compared folded (case, ``-``/``_``/spaces/no-break spaces and full-width forms set
aside), so ``BF16`` finds ``bf16``, ``H100`` finds ``H100-SXM`` and ``DGX-A100`` finds
``dgx-a100``, which plain :func:`difflib.get_close_matches` (case-sensitive, 0.6 of the
characters) missed.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable


def _fold(name: str) -> str:
    text = unicodedata.normalize("NFKC", str(name)).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def closest(word: object, known: Iterable[str]) -> str | None:
    """The known name ``word`` most likely meant, or None when none is close."""
    names = [str(k) for k in known]
    folded: dict[str, str] = {}
    for name in names:
        folded.setdefault(_fold(name), name)
    key = _fold(str(word))
    if not key:
        return None
    if key in folded:
        return folded[key]
    prefixed = [name for f, name in folded.items() if f.startswith(key) and len(key) >= 3]
    if len(prefixed) == 1:  # H100 -> H100-SXM
        return prefixed[0]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def hint(word: object, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known name, else ``""``."""
    near = closest(word, known)
    return f"; did you mean {near!r}?" if near is not None and near != word else ""
