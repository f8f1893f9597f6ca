"""The exceptions of bsb_results: every error of the library is a ``ResultsError``, and
each kind also derives from the built-in exception Python code expects for it."""


class ResultsError(Exception):
    """An error of the bsb_results library.

    ``kind`` names the library's error kind (``validation``, ``io``, ``hdf5``, ``format``,
    ``collective``, ``usage``, ``draw``); ``rank`` is the rank that failed when the error
    came from another rank inside a collective call (every rank raises the same error).
    """

    kind = None
    rank = None


class ValidationError(ResultsError, ValueError):
    """Bad input: a value, name, key or size that the file cannot hold."""


class FormatError(ResultsError, ValueError):
    """The file is not a NIX file this library can read."""


class ResultsOSError(ResultsError, OSError):
    """The operating system refused a file operation."""


class HDF5Error(ResultsError, OSError):
    """The HDF5 library reported an error."""


class CollectiveError(ResultsError, RuntimeError):
    """The ranks were not at the same collective step."""


class UsageError(ResultsError, RuntimeError):
    """A file is in use, or the call does not fit the object's state."""


class DrawError(ResultsError, RuntimeError):
    """A figure could not be drawn."""
