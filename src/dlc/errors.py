"""Errors a user can act on: the command line prints their message, not a traceback."""


class DlcError(Exception):
    """Something wrong with the input, the data or the set-up, with what to do about it."""


class DataError(DlcError):
    """A data set is missing, corrupt or in an unexpected format."""


class NonFiniteLoss(DlcError):
    """The training loss became NaN or infinite: the fit diverged.

    A lab that sweeps settings (e.g. initialisation scales) catches this one to record
    the divergence as a result instead of stopping.
    """


class UsageError(DlcError, ValueError):
    """A bad command line or option value: nothing was run (the command exits with 2).
    Also a ValueError, as the value is what is wrong."""


class InvalidArgument(DlcError, ValueError):
    """A function of dlc's library called with a value it cannot take (also a ValueError,
    as torch's own functions raise)."""
