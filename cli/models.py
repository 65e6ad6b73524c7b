"""``modelyard models ...``: list, show, alias, describe, import, expect, download, document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.common import JsonOption, handles_errors
from cli.output import console, show

models = typer.Typer(no_args_is_help=True, help="List, import, document and download models.")


@models.command("list")
@handles_errors
def models_list(as_json: JsonOption = False):
    """Every model with its latest version, aliases, flavor and key validation metric."""
    from cli.output import models_table
    from registry.catalog import list_models

    show(list_models(), as_json, models_table)


@models.command("show")
@handles_errors
def models_show(ref: Annotated[str, typer.Argument(help="NAME, NAME/VERSION or NAME@ALIAS")], as_json: JsonOption = False):
    """One version with parameters, metrics, signature, lineage and events."""
    from cli.output import version_panel
    from registry.catalog import show_version

    show(show_version(ref), as_json, version_panel)


@models.command("alias")
@handles_errors
def models_alias(
    ref: Annotated[str, typer.Argument(help="NAME/VERSION to point the alias at, or NAME with --delete.")],
    alias: Annotated[Optional[str], typer.Argument(help="The alias to set or move, e.g. champion.")] = None,
    delete: Annotated[Optional[str], typer.Option("--delete", help="Remove this alias from the model.")] = None,
):
    """Point ALIAS (e.g. champion) at the version REF means, or --delete ALIAS from model REF."""
    from registry.catalog import remove_alias, set_alias
    from registry.errors import ModelyardError
    from registry.refs import parse_ref
    from registry.settings import get_settings

    if (alias is None) == (delete is None):
        raise ModelyardError("give an ALIAS to set, or --delete ALIAS to remove one (not both)")
    if delete is not None:
        model = parse_ref(ref)
        if model.version is not None or model.alias is not None:
            raise ModelyardError(f"--delete takes the model's name, not {ref!r}: an alias belongs to the model")
        settings = get_settings()
        removed = remove_alias(model.name, delete, settings, actor=settings.user)
        console.print(f"alias {removed.alias} removed from {removed.name}/{removed.version}")
        return
    detail = set_alias(ref, alias)
    console.print(f"{detail.name}@{alias} -> version {detail.version}")


@models.command("describe")
@handles_errors
def models_describe(ref: str, text: Annotated[str, typer.Argument(help="The description (Markdown allowed).")]):
    """Set a version's description; it survives ModelDoc regeneration."""
    from registry.catalog import set_description

    detail = set_description(ref, text)
    console.print(f"description of {detail.ref} updated")


@models.command("import")
@handles_errors
def models_import(
    path: Annotated[Path, typer.Argument(help="Model file or MLflow model folder.")],
    name: Annotated[str, typer.Option("--name", help="Registered model name.")],
    flavor: Annotated[str, typer.Option(
        help="auto (told from the file's suffix, or an MLmodel folder), or a flavor's name.")] = "auto",
    sample: Annotated[Optional[Path], typer.Option(help="CSV or Parquet sample: signature, example, profile.")] = None,
    target: Annotated[Optional[str], typer.Option(help="Label column in the sample: computes validation metrics.")] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow pickle/joblib files (they run code).")] = False,
    trust_type: Annotated[Optional[list[str]], typer.Option("--trust-type", help="A skops type to trust (repeatable).")] = None,
    new_version: Annotated[bool, typer.Option("--new-version", help="Add a version to an existing model.")] = False,
    description: Annotated[Optional[str], typer.Option(help="Description of the imported version.")] = None,
    as_json: JsonOption = False,
):
    """Import an external model and register it, or fail with nothing registered."""
    from registry.importing import import_model

    result = import_model(
        path, name, flavor=flavor, sample=sample, target=target, trust_pickle=trust_pickle,
        trusted_types=trust_type or [], new_version=new_version, description=description,
    )
    show(result, as_json, lambda result: [f"imported [bold]{result.ref}[/bold] ({result.flavor}, {result.task})",
                                          *(f"  {key}: {value:.4g}" for key, value in result.metrics.items())])


@models.command("expect")
@handles_errors
def models_expect(
    ref: Annotated[str, typer.Argument(help="The model: NAME, NAME/VERSION or NAME@ALIAS (expectations hold for "
                                            "every version).")],
    expectation: Annotated[Optional[str], typer.Argument(help="GX expectation type, e.g. expect_column_values_to_be_between.")] = None,
    kwargs: Annotated[str, typer.Option("--kwargs", help='JSON arguments, e.g. \'{"column": "age", "min_value": 0}\'.')] = "{}",
    remove: Annotated[Optional[int], typer.Option(help="Remove the expectation with this id.")] = None,
    as_json: JsonOption = False,
):
    """Attach an extra input expectation to a model (or list them, or --remove ID)."""
    from registry.errors import ModelyardError
    from registry.expectations import attach_expectation, list_expectations, remove_expectation
    from registry.refs import parse_ref

    if remove is not None:
        info = remove_expectation(remove)
        console.print(f"removed expectation {info.id} ({info.expectation_type}) from {info.model_name}")
        return
    if expectation is not None:
        try:
            arguments = json.loads(kwargs)
        except json.JSONDecodeError as error:
            raise ModelyardError(f"--kwargs is not valid JSON: {error}") from None
        info = attach_expectation(ref, expectation, arguments)
        console.print(f"attached expectation {info.id} to {info.model_name}: {expectation} {json.dumps(arguments)}")
        return
    show(list_expectations(parse_ref(ref).name), as_json, lambda found: [
        f"{item.id}: {item.expectation_type} {json.dumps(item.kwargs)}" for item in found])


@models.command("download")
@handles_errors
def models_download(
    ref: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="The .zip file to write, or a folder for "
                                                               "NAME-vVERSION.zip.")],
):
    """Export a version's artifacts, ModelDoc, requirements and checksummed manifest as a zip."""
    from registry.download import download_model

    result = download_model(ref, output)
    console.print(f"wrote {result.path} ({len(result.files)} files, {result.bytes} bytes, sha256 {result.sha256}) "
                  f"for {result.name}/{result.version}")


@models.command("doc")
@handles_errors
def models_doc(
    ref: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="html|md|json")] = "html",
):
    """Write the ModelDoc of a version."""
    from registry.errors import ModelyardError
    from registry.modeldoc import build_modeldoc, write_modeldoc

    if fmt not in ("html", "md", "json"):
        raise ModelyardError(f"unknown format {fmt!r}: choose html, md or json")
    written = write_modeldoc(build_modeldoc(ref), fmt, output)
    console.print(f"wrote {written[0]}" + (f" and {len(written) - 1} plots" if len(written) > 1 else ""))
