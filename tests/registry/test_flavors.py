"""The flavor registry is the one list of model libraries: each flavor keeps its whole contract."""

from __future__ import annotations

import typing
from importlib.metadata import version

import pytest

from registry.card import ModelCard
from registry.errors import ImportModelError
from registry.flavors import FLAVORS, NAMES, detect_flavor, flavor_named
from registry.predictors import Predictor


def test_the_card_accepts_exactly_the_registered_flavors():
    assert typing.get_args(ModelCard.model_fields["flavor"].annotation) == NAMES
    with pytest.raises(ValueError, match="unknown flavor 'keras'"):
        flavor_named("keras")


@pytest.mark.parametrize("name", NAMES)
def test_each_flavor_names_its_whole_contract(name):
    flavor = FLAVORS[name]
    assert flavor.name == name and issubclass(flavor.predictor, Predictor)
    assert all(callable(step) for step in (flavor.save, flavor.load, flavor.read_file))
    assert flavor.file_kind, "the import error names what files the flavor takes"
    for library in flavor.libraries:
        assert flavor.library_versions()[library] == version(library)


def test_each_file_is_told_by_its_suffix_and_a_folder_by_its_mlmodel(tmp_path):
    for flavor in FLAVORS.values():
        for suffix in flavor.suffixes:
            assert detect_flavor(tmp_path / f"model{suffix.upper()}") == flavor.name
    (tmp_path / "exported").mkdir()
    with pytest.raises(ImportModelError, match="folder without an MLmodel file"):
        detect_flavor(tmp_path / "exported")
    (tmp_path / "exported" / "MLmodel").write_text("flavors: {}\n")
    assert detect_flavor(tmp_path / "exported") == "mlflow"
    with pytest.raises(ImportModelError, match=r"cannot tell the flavor of model.h5: expected .*\.onnx"):
        detect_flavor(tmp_path / "model.h5")
