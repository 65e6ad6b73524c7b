"""Import a model version into the Bento store and build its bento, in one short-lived process.

Run by the deploy step's ``build`` as ``python -m bento_services.bento_build`` with
``BENTOML_HOME`` set (BentoML fixes its home when it is first imported, so this never runs in a
process that may already have imported it elsewhere). It:

1. imports the MLflow model directory into the Bento model store as ``<name>:v<version>`` (once:
   a version already there is reused, so ``bentoml models list`` shows one model per version);
2. builds a bento of ``ModelService`` whose ``models`` list names it, with the model's own
   pinned requirements plus the service's, so ``bentoml containerize`` builds a runnable image;
3. prints ``__tag__:<bento tag>`` for the caller.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from importlib.metadata import version as installed
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICE = "bento_services.service:ModelService"
SERVICE_PACKAGES = ("bentoml", "fastapi", "pydantic-settings", "pyarrow")  # beyond the model's requirements
CODE_PACKAGES = ("bento_services", "registry", "infra")  # the code a bento carries (registry stands on infra)


def bento_model_tag(name: str, version: int) -> str:
    """A registered version's tag in the Bento model store (BentoML tags are lower case)."""
    return f"{name.lower()}:v{version}"


def bento_model_path(model_tag: str, home: Path | None = None) -> Path:
    """Where the Bento store at ``home`` (default: ``BENTOML_HOME``) keeps the model ``model_tag``."""
    name, version = model_tag.split(":")
    return Path(home or os.environ["BENTOML_HOME"]) / "models" / name / version


def import_model(model_dir: Path, name: str, version: int) -> str:
    """``<name>:v<version>`` in the Bento model store, holding a copy of the MLflow model."""
    import bentoml
    from bentoml.exceptions import NotFound

    tag = bento_model_tag(name, version)
    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        pass
    with bentoml.models.create(tag, labels={"registry": "modelyard", "model_version": str(version)},
                               metadata={"registered_name": name, "source": str(model_dir)}) as model:
        shutil.copytree(model_dir, model.path, dirs_exist_ok=True)
    return str(model.tag)


SERVED_FILES = ("served_model.pkl", "runtime.json")  # bento_services.snapshot's and parity's, in the version folder


def attach_served_model(model_path: Path, folder: Path) -> list[str]:
    """Put the version's served model (the snapshot of the predictor its build chose, compiled or
    native) and its runtime choice beside the MLflow model in the Bento store, so a server of the
    bento started anywhere (another machine, ``bentoml containerize``) serves that runtime; the
    names copied. The Bento model is shared by every bento of the version: the latest build's wins."""
    copied = []
    for name in SERVED_FILES:
        if (folder / name).exists():
            staging = model_path / f".{name}.{os.getpid()}.tmp"
            shutil.copyfile(folder / name, staging)
            staging.replace(model_path / name)
            copied.append(name)
    return copied


def runtime_packages(model_dir: Path) -> list[str]:
    """The libraries any compiled runtime of the model's flavor needs to be unpickled: the bento
    serves the runtime its latest build chose (``attach_served_model``), whichever that is."""
    from registry.card import ModelCard
    from registry.flavors import compiler_libraries

    return list(compiler_libraries(ModelCard.read(model_dir).flavor))


def build_bento(model_tag: str, model_dir: Path, name: str, version: int) -> str:
    """A bento of the service code (``CODE_PACKAGES``) that uses ``model_tag``, with the packages
    of the runtimes the version may serve with."""
    import bentoml

    with tempfile.TemporaryDirectory(prefix="bento_context.") as context:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for package in CODE_PACKAGES:
            shutil.copytree(REPO / package, Path(context) / package, ignore=ignore)
        requirements = Path(context) / "requirements.txt"
        model_requirements = (model_dir / "requirements.txt").read_text().split() if \
            (model_dir / "requirements.txt").exists() else []
        pins = [f"{package}=={installed(package)}" for package in (*SERVICE_PACKAGES, *runtime_packages(model_dir))]
        requirements.write_text("\n".join(dict.fromkeys(model_requirements + pins)) + "\n")
        bento = bentoml.bentos.build(
            SERVICE, name=name.lower(), version=f"v{version}-{time.time_ns() // 1_000_000}",
            include=[*(f"{package}/**" for package in CODE_PACKAGES), "requirements.txt"], models=[model_tag],
            labels={"registry": "modelyard", "model_version": str(version)},
            python={"requirements_txt": "requirements.txt", "lock_packages": False},  # relative to build_ctx
            build_ctx=context,
        )
    return str(bento.tag)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--deployment-id", type=int, help="record the bento on this deployment (a swap's, built "
                                                           "after it serves), then prune the model's old bentos")
    parser.add_argument("--actor", help="who deployed it, named in the bento's event")
    args = parser.parse_args(argv)
    if args.deployment_id is None:
        model_tag = import_model(args.model_dir, args.name, args.version)
        print(f"__tag__:{build_bento(model_tag, args.model_dir, args.name, args.version)}", flush=True)
        return  # the deploy attaches the served model once its load has made it (bento_services.steps)
    build_for_deployment(args.model_dir, args.name, args.version, args.deployment_id, args.actor)


def build_for_deployment(model_dir: Path, name: str, version: int, deployment_id: int, actor: str | None) -> None:
    """The bento of a deployment that serves already (a swap's): recorded on its row with a
    ``bento_built`` event, or a ``bento_build_failed`` one saying why (the deployment serves on;
    a restart of it then builds again)."""
    from bento_services.bentos import prune_bentos
    from registry.deployments import set_bento_failed, set_bento_tag
    from registry.metadata.db import session_scope
    from registry.metadata.events import record_event
    from registry.settings import Settings

    settings, started = Settings(), time.perf_counter()
    actor = actor or settings.user
    try:
        model_tag = import_model(model_dir, name, version)
        attach_served_model(bento_model_path(model_tag), model_dir.parent)
        tag = build_bento(model_tag, model_dir, name, version)
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"[:2000]
        set_bento_failed(deployment_id, reason, settings=settings)
        with session_scope(settings) as session:
            record_event(session, actor=actor, action="bento_build_failed", model_name=name,
                         model_version=version, details={"deployment_id": deployment_id, "reason": reason})
        raise
    print(f"__tag__:{tag}", flush=True)
    set_bento_tag(deployment_id, tag, settings=settings)
    with session_scope(settings) as session:
        record_event(session, actor=actor, action="bento_built", model_name=name, model_version=version,
                     details={"deployment_id": deployment_id, "bento_tag": tag,
                              "seconds": round(time.perf_counter() - started, 1)})
    prune_bentos(name, settings)

if __name__ == "__main__":
    main()
