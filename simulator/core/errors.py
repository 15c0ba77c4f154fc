"""Errors that carry the file and the field a user got wrong.

The CLI turns an :class:`InputError` into one line on stderr and exit status 2, no traceback.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad user input: names the file (or source), the field and what was expected.

    ``str(err)`` is ``"FILE: FIELD: MESSAGE"`` (parts that are empty are left out).
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.field, self.message) if p]
        return ": ".join(parts)

    def located(self, *, file: str | None = None, field_prefix: str | None = None) -> InputError:
        """Return a copy with the file set (if unset) and the field prefixed (``a.b``)."""
        fld = self.field
        if field_prefix:
            fld = f"{field_prefix}.{fld}" if fld else field_prefix
        return InputError(self.message, file=self.file or file, field=fld)


class InputNote(UserWarning):
    """Something about the input the user should know, that does not stop the command (a
    fallback taken, a property the tool cannot honour). The CLI prints each as one line
    ``commsim COMMAND: note: MESSAGE`` on stderr."""


def clipped(text: str, width: int) -> str:
    """``text`` for an error message, cut to ``width`` characters (``...`` ending a cut one),
    so a whole section given where a number belongs does not flood the one line."""
    return text if len(text) <= width else text[: width - 3] + "..."
