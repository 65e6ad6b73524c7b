"""Errors a user can act on. Each message names what is wrong in one line."""


class ModelyardError(Exception):
    """Base class: the CLI prints the message and exits non-zero, the API answers 4xx."""


class InvalidReferenceError(ModelyardError):
    """A model reference that is not NAME, NAME/VERSION or NAME@ALIAS."""


class ModelNotFoundError(ModelyardError):
    """The reference names a model, version or alias that does not exist."""


class ModelExistsError(ModelyardError):
    """A registered model of that name exists already."""


class ImportModelError(ModelyardError):
    """An external model file that cannot be imported as asked."""


class UntrustedTypesError(ImportModelError):
    """A skops file containing types the user has not trusted."""


class SampleMismatchError(ImportModelError):
    """A sample data file whose columns do not fit the model."""
