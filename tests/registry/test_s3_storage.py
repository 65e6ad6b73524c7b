"""Artifacts on S3: a real S3 protocol server (moto) on loopback, not a mock of boto3."""

import json
import sys
import zipfile
from pathlib import Path

import pytest

from registry.settings import Settings
from tests.servers import Server, free_port

BUCKET = "modelyard-artifacts"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = Server([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        server.wait_http(endpoint)
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_settings(s3, tmp_path, monkeypatch):
    import boto3

    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=s3)
    if BUCKET not in [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    prefix = tmp_path.name
    settings = Settings(home=tmp_path / "home", artifact_root=f"s3://{BUCKET}/{prefix}", s3_endpoint_url=s3)
    return settings, client, prefix


def _keys(client, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_trained_model_artifacts_land_in_s3_and_nowhere_local(s3_settings):
    from pipelines.training import DEMO_MODELS, train_demo_model

    settings, client, prefix = s3_settings
    result = train_demo_model(DEMO_MODELS["diabetes_regressor"], settings)
    assert result.artifact_uri.startswith(f"s3://{BUCKET}/{prefix}/models/")
    keys = _keys(client, prefix)
    assert any(key.endswith("/MLmodel") for key in keys)
    assert any(key.endswith("/modelyard/profile.json") for key in keys)
    assert any(key.endswith("/modelyard/plots/residuals.png") for key in keys)
    assert not (settings.home / "artifacts").exists()


def test_download_and_modeldoc_read_from_s3(s3_settings, tmp_path):
    from pipelines.training import DEMO_MODELS, train_demo_model
    from registry.download import download_model
    from registry.modeldoc import build_modeldoc

    settings, _, prefix = s3_settings
    train_demo_model(DEMO_MODELS["diabetes_regressor"], settings)
    result = download_model("diabetes_regressor/1", tmp_path / "dr.zip", settings)
    with zipfile.ZipFile(result.path) as archive:
        assert "model/model.skops" in archive.namelist()
        manifest = json.loads(archive.read("MANIFEST.json"))
    assert manifest["version"] == 1
    doc = build_modeldoc("diabetes_regressor/1", settings)
    assert doc.model.artifact_uri.startswith(f"s3://{BUCKET}/{prefix}")
    assert len(doc.plots) == 2


def test_failed_import_leaves_no_objects_in_s3(s3_settings, external, monkeypatch):
    import registry.registration
    from registry.importing import import_model

    settings, client, prefix = s3_settings

    def broken_event(*args, **kwargs):
        raise RuntimeError("metadata database went away")

    monkeypatch.setattr(registry.registration, "record_event", broken_event)
    with pytest.raises(RuntimeError, match="went away"):
        import_model(external.folder / "xgb.json", "half", sample=external.sample_csv, target="label",
                     settings=settings)
    assert _keys(client, prefix) == []
