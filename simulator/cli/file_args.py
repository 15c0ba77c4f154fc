"""Up-front checks of the file arguments of long commands (``--plot``, ``--write-doc``) and of
``validate --published``'s flags, so a mistake is refused before minutes of work, and a file the
user gave is never overwritten (:func:`simulator.outputs.check_new_file`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.core.errors import InputError

#: ``validate`` flags that only the rig runs read, with their defaults (``--published`` ignores
#: them; one given there is a mistake, refused instead of silently dropped).
RIG_ONLY_FLAGS: dict[str, object] = {
    "topology": None,
    "world": None,
    "strategies": "ddp,fsdp,pp,tp,ps,compress",
    "tiers": "replay,topology,strategy",
    "what_if": None,
    "faults": None,
    "steps": 8,
    "warmup": 2,
    "backend": None,
    "layers": None,
    "d_model": None,
    "batch": None,
    "timeout": 900.0,
    "device": "cpu",
    "durations": "measured",
    "gpu": None,
    "slowdown": 1.0,
    "out": None,
}


def check_png_arg(path: str | None, field: str) -> None:
    """``path`` (when given) must end in ``.png`` and be a new file (unless ``--force``)."""
    if path is None:
        return
    from simulator.outputs import check_new_file

    if Path(path).suffix.lower() != ".png":
        raise InputError("expected a file name ending in .png", file=path, field=field)
    check_new_file(Path(path), field)


def check_doc_arg(path: str | None, markers: list[tuple[str, str]]) -> None:
    """``--write-doc PATH`` must be a readable UTF-8 file holding at least one marker pair."""
    if path is None:
        return
    p = Path(path)
    if not p.is_file():
        raise InputError(
            "expected an existing Markdown file with generated-table markers",
            file=path,
            field="--write-doc",
        )
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=path, field="--write-doc") from None
    if not any(b in text and e in text for b, e in markers):
        shown = " or ".join(f"{b} ... {e}" for b, e in markers)
        raise InputError(f"holds none of the markers {shown}", file=path, field="--write-doc")


def check_published_flags(args: argparse.Namespace) -> None:
    """``validate --published``: refuse rig-only flags and bad output files before running."""
    for name, default in RIG_ONLY_FLAGS.items():
        if getattr(args, name, default) != default:
            flag = "--" + name.replace("_", "-")
            raise InputError("only without --published (a rig run reads it)", field=flag)
    check_png_arg(args.plot, "--plot")
