"""Errors a user can fix; the CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """A problem with the user's input, files or machine, with the fix in its message."""
