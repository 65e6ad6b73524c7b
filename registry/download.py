"""Download: one zip with a version's artifacts, its ModelDoc, requirements and a checksummed manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from registry.catalog import download_model_dir
from registry.errors import ModelyardError
from registry.files import atomic_path
from registry.metadata.db import session_scope
from registry.metadata.events import record_event
from registry.modeldoc import build_modeldoc, render_modeldoc
from registry.refs import ModelRef, parse_ref
from registry.settings import Settings, get_settings
from registry.store import mlflow_client, resolve_version

MANIFEST = "MANIFEST.json"


class ManifestEntry(BaseModel):
    path: str
    bytes: int
    sha256: str


class DownloadResult(BaseModel):
    name: str
    version: int
    path: Path
    files: list[ManifestEntry]
    bytes: int
    sha256: str  # of the zip itself


def archive_name(name: str, version: int) -> str:
    """How a version's archive is called wherever Modelyard names it (a folder given as output, the page)."""
    return f"{name}-v{version}.zip"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stage(ref: ModelRef, scratch: Path, staging: Path, settings: Settings) -> tuple[str, int]:
    """Lay out the archive's content in ``staging``; return the concrete name and version."""
    version = resolve_version(ref, mlflow_client(settings))
    concrete = ModelRef(ref.name, int(version.version))
    shutil.move(download_model_dir(concrete, scratch / "fetch", settings), staging / "model")
    doc = build_modeldoc(concrete, settings, model_dir=staging / "model")
    (staging / "modeldoc.html").write_text(render_modeldoc(doc, "html"))
    (staging / "modeldoc.json").write_text(render_modeldoc(doc, "json"))
    (staging / "requirements.txt").write_text("\n".join(doc.model.requirements) + "\n")
    return concrete.name, concrete.version


def download_model(ref: str, output: str | Path, settings: Settings | None = None, *,
                   actor: str | None = None) -> DownloadResult:
    """Write ``output`` (a .zip, or a folder to write ``<name>-v<version>.zip`` into) with
    everything needed to run and understand the version. The event records what a reader of the
    history needs (the archive's name, size and SHA-256), not where this machine put it."""
    settings = settings or get_settings()
    model_ref = parse_ref(ref)
    output = Path(output).expanduser().resolve()
    if not output.is_dir() and output.suffix.lower() != ".zip":
        raise ModelyardError(f"output {output.name} must end in .zip", field="output")
    with tempfile.TemporaryDirectory(prefix="modelyard-download-") as scratch:
        staging = Path(scratch) / "content"
        staging.mkdir()
        name, version = _stage(model_ref, Path(scratch), staging, settings)
        if output.is_dir():
            output = output / archive_name(name, version)
        entries = [
            ManifestEntry(path=path.relative_to(staging).as_posix(), bytes=path.stat().st_size,
                          sha256=_sha256(path))
            for path in sorted(staging.rglob("*")) if path.is_file()
        ]
        manifest = {
            "name": name, "version": version, "model_uri": f"models:/{name}/{version}",
            "created_at": datetime.now(timezone.utc).isoformat(), "created_by": actor or settings.user,
            "files": [entry.model_dump() for entry in entries],
        }
        with atomic_path(output) as temporary:
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for entry in entries:
                    archive.write(staging / entry.path, entry.path)
                archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
    result = DownloadResult(name=name, version=version, path=output, files=entries, bytes=output.stat().st_size,
                            sha256=_sha256(output))
    with session_scope(settings) as session:
        record_event(session, actor=actor or settings.user, action="downloaded", model_name=name,
                     model_version=version, details={"file": output.name, "bytes": result.bytes,
                                                     "sha256": result.sha256})
    return result
