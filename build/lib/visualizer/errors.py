"""Errors a user can fix; the CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """A problem with the user's input, files or machine, with the fix in its message."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none (for one-line errors)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
