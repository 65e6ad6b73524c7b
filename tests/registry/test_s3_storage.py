"""Artifacts on S3: a real S3 protocol server (moto) on loopback, not a mock of boto3."""

import json
import zipfile

import pytest

from tests.conftest import BUCKET


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


def test_batch_scoring_reads_and_writes_s3(s3_settings, tmp_path):
    """Input and output on S3; the local cluster's forked workers inherit the credentials."""
    import pandas as pd

    from pipelines.scoring import ScoringRequest, score_batch
    from pipelines.training import DEMO_MODELS, load_dataset, train_demo_model

    settings, client, prefix = s3_settings
    train_demo_model(DEMO_MODELS["diabetes_regressor"], settings)
    features, _ = load_dataset("diabetes")
    features.insert(0, "visit", range(len(features)))
    for part, chunk in enumerate((features.iloc[:200], features.iloc[200:])):
        chunk.to_parquet(tmp_path / f"p{part}.parquet")
        client.upload_file(str(tmp_path / f"p{part}.parquet"), BUCKET, f"{prefix}/input/p{part}.parquet")
    output = f"s3://{BUCKET}/{prefix}/scored"
    result = score_batch(ScoringRequest(model_ref="diabetes_regressor/1", input_path=f"s3://{BUCKET}/{prefix}/input/",
                                        output_path=output, policy="quarantine"), settings=settings)
    assert result.rows_in == 442 == result.rows_scored + result.rows_rejected
    keys = _keys(client, f"{prefix}/scored/")
    assert f"{prefix}/scored/_SUCCESS" in keys and not any(".staging-" in key for key in _keys(client, prefix))
    scored = pd.read_parquet(output, storage_options={"client_kwargs": {"endpoint_url": settings.s3_endpoint_url}})
    assert len(scored) == result.rows_scored and scored["visit"].is_unique
