"""Errors a user can act on. Each message names what is wrong in one line."""

from infra.errors import ModelyardError


class InvalidFieldError(ModelyardError):
    """One input is wrong; the message says why and ``field`` says which."""


class ConflictError(ModelyardError):
    """The request is well formed but clashes with what exists (a taken name or port)."""


class InvalidReferenceError(ModelyardError):
    """A model reference that is not NAME, NAME/VERSION or NAME@ALIAS."""


class ModelNotFoundError(ModelyardError):
    """The reference names a model, version or alias that does not exist."""


class ModelExistsError(ConflictError):
    """A registered model of that name exists already."""


class ImportModelError(ModelyardError):
    """An external model file that cannot be imported as asked."""


class UntrustedTypesError(ImportModelError):
    """A skops file containing types the user has not trusted."""


class SampleMismatchError(ImportModelError):
    """A sample data file whose columns do not fit the model."""


def invalid_settings(error, what: str, *, field: str | None = None) -> InvalidFieldError:
    """A pydantic ``ValidationError`` of a settings object (thresholds, a rule, a policy) as one
    line naming the setting and the value given: ``rule min_labelled: ... (given 1)``."""
    problem = error.errors()[0]
    name = ".".join(str(part) for part in problem["loc"]) or what
    given = f" (given {problem['input']!r})" if problem["type"] not in ("extra_forbidden", "missing") else ""
    return InvalidFieldError(f"{what} {name}: {problem['msg']}{given}", field=field or name)


def error_named(kind: str | None, message: str) -> ModelyardError:
    """The error of class ``kind`` (one of these) with ``message``: an error another process
    reported by name (a spare's load) raised here as it would have been raised in this one."""
    classes = {cls.__name__: cls for cls in _subclasses(ModelyardError)}
    error = classes.get(kind or "", ModelyardError).__new__(classes.get(kind or "", ModelyardError))
    Exception.__init__(error, message)  # whatever the class's own __init__ takes
    error.field = None
    return error


def _subclasses(cls: type) -> list[type]:
    return [cls] + [sub for child in cls.__subclasses__() for sub in _subclasses(child)]
