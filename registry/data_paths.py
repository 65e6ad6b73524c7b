"""Where scheduled workflows may read and write: under the configured data roots only.

An association is run later by the platform's workers, with the platform's access to disks and
buckets, for whoever created it; so its input and output must lie under a root the operator
configured (``MODELYARD_DATA_ROOTS``; embedded: the home's ``data`` folder). Paths are checked
as text, with ``..`` resolved, before anything is stored.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from registry.errors import InvalidFieldError
from registry.settings import Settings


def check_data_path(path: str, *, field: str, settings: Settings) -> str:
    """``path`` normalised, if it lies under a data root; else an error naming ``field``."""
    if not path or not path.strip():
        raise InvalidFieldError(f"{field} is empty: give a path under {_roots(settings)}", field=field)
    normalised = _normalise(path.strip())
    if normalised is None:
        raise InvalidFieldError(f"{field} {path!r} must be an absolute path or an s3:// URI", field=field)
    if not any(_under(normalised, root) for root in (_normalise(root) for root in settings.data_roots) if root):
        raise InvalidFieldError(f"{field} {path!r} is outside the data roots {_roots(settings)}", field=field)
    return normalised


def _normalise(path: str) -> str | None:
    if path.startswith("s3://"):
        bucket, _, key = path.removeprefix("s3://").partition("/")
        return f"s3://{bucket}/{os.path.normpath('/' + key).lstrip('/')}".rstrip("/") if bucket else None
    if path.startswith("file://"):
        path = path.removeprefix("file://")
    if not os.path.isabs(os.path.expanduser(path)):
        return None
    return os.path.normpath(os.path.realpath(os.path.expanduser(path)))


def _under(path: str, root: str) -> bool:
    if path.startswith("s3://") != root.startswith("s3://"):
        return False
    if path.startswith("s3://"):
        return path == root or path.startswith(root.rstrip("/") + "/")
    return PurePosixPath(path).is_relative_to(PurePosixPath(root))


def _roots(settings: Settings) -> str:
    return ", ".join(settings.data_roots)
