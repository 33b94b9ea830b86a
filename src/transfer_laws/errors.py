"""Errors a user can cause and fix; the CLI prints them as one line and exits 2."""


class InputError(ValueError):
    """Bad input to a fit or a study: a missing column, a non-positive size, too few points."""
