"""Errors of batch scoring; each names what is wrong so the run's failure explains itself."""

from registry.errors import ModelyardError


class InputError(ModelyardError):
    """The input cannot be read: missing, corrupt, empty, or of an unknown format."""


class DataValidationError(ModelyardError):
    """The input breaks the model's expectations; the message names the failing ones."""


class RowCountMismatchError(ModelyardError):
    """Rows in != rows scored + rows rejected: the run is not committed."""
