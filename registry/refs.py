"""Model references in MLflow's own spelling: ``NAME``, ``NAME/VERSION``, ``NAME@ALIAS``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry.errors import InvalidFieldError, InvalidReferenceError, ModelyardError

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_REF = re.compile(rf"^(?P<name>{_NAME})(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z][A-Za-z0-9_\-]*))?$")
_NAME_ONLY = re.compile(rf"^{_NAME}$")


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name

    @property
    def uri(self) -> str:
        """The MLflow ``models:/`` URI; a bare name means its latest version."""
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{self.version if self.version is not None else 'latest'}"


def parse_ref(text: str) -> ModelRef:
    """Parse a reference, naming what is wrong when it is not one."""
    text = text.strip().removeprefix("models:/")
    match = _REF.match(text)
    if match is None:
        raise InvalidReferenceError(
            f"invalid model reference {text!r}: expected NAME, NAME/VERSION or NAME@ALIAS"
        )
    version = match["version"]
    if version is not None and int(version) < 1:
        raise InvalidReferenceError(f"invalid model reference {text!r}: versions start at 1")
    return ModelRef(match["name"], int(version) if version else None, match["alias"])


def check_model_name(name: str) -> str:
    if not _NAME_ONLY.match(name):
        raise InvalidReferenceError(
            f"invalid model name {name!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit"
        )
    return name


def check_alias(alias: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]*", alias) or alias.lower() == "latest":
        raise InvalidReferenceError(
            f"invalid alias {alias!r}: start with a letter; 'latest' is reserved", field="alias"
        )
    return alias


def model_ref(name: str, ref: str) -> ModelRef:
    """``ref`` of model ``name``: a version number or an alias (the ``ref`` field of a request)."""
    ref = str(ref).strip()
    if ref.isdigit() and int(ref) >= 1:
        return ModelRef(name, int(ref))
    try:
        return ModelRef(name, alias=check_alias(ref))
    except ModelyardError as error:
        raise InvalidFieldError(f"{ref!r} is neither a version number nor an alias: {error}", field="ref") from None
