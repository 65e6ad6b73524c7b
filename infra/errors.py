"""The base of every error Modelyard names for a user, from the lowest layer up (``registry.errors``
has the kinds)."""


class ModelyardError(Exception):
    """Base class: the CLI prints the message and exits non-zero, the API answers 4xx.

    ``field`` names the input to blame when there is one (``schedule``, ``input_path``), so a
    form can show the message beside it; messages name inputs the same way, never a CLI flag.
    """

    def __init__(self, message: str = "", *, field: str | None = None):
        super().__init__(message)
        self.field = field

    def __reduce__(self):
        """Pickled whole (message, field and a subclass's own attributes) whatever the subclass's
        ``__init__`` takes, as when a run driven on a Dask worker fails there."""
        return _rebuilt, (self.__class__, str(self), self.__dict__)


def _rebuilt(cls: type[ModelyardError], message: str, state: dict) -> ModelyardError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error
