"""Errors a user can act on: the command line prints their message, not a traceback."""


class DlcError(Exception):
    """Something wrong with the input, the data or the set-up, with what to do about it."""


class DataError(DlcError):
    """A data set is missing, corrupt or in an unexpected format."""
