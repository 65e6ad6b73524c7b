import pytest

from registry.errors import InvalidReferenceError
from registry.refs import ModelRef, check_alias, parse_ref
from registry.settings import Settings


@pytest.mark.parametrize(
    "text, expected",
    [
        ("churn", ModelRef("churn")),
        ("churn/3", ModelRef("churn", version=3)),
        ("churn@champion", ModelRef("churn", alias="champion")),
        ("models:/churn@champion", ModelRef("churn", alias="champion")),
        ("team.churn-v2/12", ModelRef("team.churn-v2", version=12)),
    ],
)
def test_parse_ref_accepts_mlflow_spellings(text, expected):
    assert parse_ref(text) == expected
    assert parse_ref(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "churn/", "churn/x", "churn/0", "churn@", "churn@1x", "a b", "churn/1@x", "/churn"])
def test_parse_ref_rejects_with_the_reference_named(text):
    with pytest.raises(InvalidReferenceError, match="invalid model reference"):
        parse_ref(text)


def test_uri_never_reads_latest_implicitly_for_versions_and_aliases():
    assert ModelRef("m", version=2).uri == "models:/m/2"
    assert ModelRef("m", alias="prod").uri == "models:/m@prod"


@pytest.mark.parametrize("alias", ["latest", "1st", "with space"])
def test_bad_aliases_are_refused(alias):
    with pytest.raises(InvalidReferenceError):
        check_alias(alias)


def test_embedded_defaults_live_under_home(tmp_path):
    settings = Settings(home=tmp_path / "h")
    assert settings.tracking_uri == f"sqlite:///{tmp_path / 'h' / 'mlflow.db'}"
    assert settings.registry_uri == settings.tracking_uri
    assert settings.artifact_root == str(tmp_path / "h" / "artifacts")
    assert settings.database_url == f"sqlite:///{tmp_path / 'h' / 'modelyard.db'}"
    assert settings.artifact_root_is_local


def test_environment_switches_to_real_services(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path))
    monkeypatch.setenv("MODELYARD_TRACKING_URI", "postgresql://u:p@db/mlflow")
    monkeypatch.setenv("MODELYARD_ARTIFACT_ROOT", "s3://bucket/models")
    monkeypatch.setenv("MODELYARD_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("MODELYARD_DATABASE_URL", "postgresql://u:p@db/modelyard")
    settings = Settings()
    assert settings.registry_uri == "postgresql://u:p@db/mlflow"
    assert settings.artifact_root == "s3://bucket/models"
    assert not settings.artifact_root_is_local
    assert settings.database_url == "postgresql://u:p@db/modelyard"
