"""ModelDoc in three formats and the download archive, checked as a user would read them."""

import hashlib
import json
import re
import zipfile

import pytest

from registry.catalog import set_description
from registry.download import download_model
from registry.errors import ModelyardError
from registry.modeldoc import build_modeldoc, render_modeldoc, write_modeldoc

SECTIONS = [
    "Model details", "Description", "Training pipeline", "Dataset overview", "Model URI and artifacts",
    "Hyperparameters", "Features", "Training metrics", "Validation metrics", "Feature importance",
    "Evaluation plots", "Lineage", "Deployments", "Associated scoring workflows", "Recent scoring runs",
    "Event history",
]


def test_html_modeldoc_is_self_contained_with_every_section_and_embedded_plots(trained, tmp_path):
    settings, _ = trained
    (path,) = write_modeldoc(build_modeldoc("breast_cancer_classifier/1", settings), "html", tmp_path / "doc.html")
    html = path.read_text()
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched when opened offline
    assert "@media print" in html
    assert "mean_radius" in html and "RandomForestClassifier" in html and "roc_auc" in html


def test_markdown_modeldoc_writes_its_plots_beside_it(trained, tmp_path):
    settings, _ = trained
    written = write_modeldoc(build_modeldoc("diabetes_regressor/1", settings), "md", tmp_path / "doc.md")
    text = written[0].read_text()
    assert all(f"## {section}" in text for section in SECTIONS)
    assert "![Residuals](plots/residuals.png)" in text
    assert (tmp_path / "plots" / "residuals.png").read_bytes()[:4] == b"\x89PNG"


def test_each_deployment_says_its_runtime_on_its_own_line(trained):
    from datetime import datetime, timezone

    from registry.deployments import DeploymentInfo
    from registry.runtimes import Candidate, Parity, RuntimeChoice, Timing

    settings, _ = trained
    measured = Timing(one_row_ms=0.2, batch_ms=2.0, batch_rows=100)
    parity = Parity(rows=100, labels_differing=0, max_difference=1e-7, tolerance=1e-5, classification=False)
    compiled = RuntimeChoice(runtime="onnxruntime", native=Timing(one_row_ms=4.0, batch_ms=8.0, batch_rows=100),
                             candidates=(Candidate(runtime="onnxruntime", timing=measured, parity=parity),))
    now = datetime.now(timezone.utc)
    row = dict(model_name="diabetes_regressor", model_version=1, bento_tag="t", url="http://127.0.0.1:3000", port=3001,
               pids=[], status_reason=None, request_id=None, created_by="ana", created_at=now, updated_at=now)
    doc = build_modeldoc("diabetes_regressor/1", settings).model_copy(update={"deployments": [
        DeploymentInfo(id=2, status="running", runtime=compiled, **row),
        DeploymentInfo(id=1, status="replaced", runtime=RuntimeChoice(runtime="native", native=None, requested="native"),
                       **row)]})
    lines = [line for line in render_modeldoc(doc, "md").splitlines() if line.startswith("- version 1:")]
    assert len(lines) == 2, lines  # one line each
    assert lines[0].endswith("runtime onnxruntime: one row 20.0x faster (4 ms to 0.2 ms), batch 4.0x faster (8 ms to "
                             "2 ms for 100 rows); values of 100 rows, largest difference 1.0e-07 (tolerance 1e-05)")
    assert lines[1].endswith("runtime native: asked for (runtime native)")
    assert "<td>onnxruntime: one row 20.0x faster" in render_modeldoc(doc, "html")


def test_json_modeldoc_is_machine_readable(trained):
    settings, _ = trained
    data = json.loads(render_modeldoc(build_modeldoc("diabetes_regressor/1", settings), "json"))
    assert data["model"]["validation_metrics"]["rmse"] > 0
    assert data["dataset"]["rows"] == 331
    assert {plot["name"] for plot in data["plots"]} == {"residuals", "feature_importance"}
    assert "png_base64" not in data["plots"][0]


def test_user_description_survives_regeneration(home, tmp_path):
    from pipelines.training import DEMO_MODELS, train_demo_model

    train_demo_model(DEMO_MODELS["diabetes_regressor"])
    set_description("diabetes_regressor/1", "Reviewed by the clinical team <2026-11>.")
    for _ in range(2):
        write_modeldoc(build_modeldoc("diabetes_regressor/1"), "html", tmp_path / "doc.html")
    html = (tmp_path / "doc.html").read_text()
    assert "Reviewed by the clinical team &lt;2026-11&gt;." in html  # kept, and escaped


def test_markup_in_a_description_is_text_in_all_three_formats(home, tmp_path):
    from pipelines.training import DEMO_MODELS, train_demo_model

    train_demo_model(DEMO_MODELS["diabetes_regressor"])
    text = "**Reviewed** <script>alert('x')</script> <b>bold</b> & `code`"
    set_description("diabetes_regressor/1", text)
    doc = build_modeldoc("diabetes_regressor/1")
    html, markdown = render_modeldoc(doc, "html"), render_modeldoc(doc, "md")
    for rendered in (html, markdown):
        assert "<script>" not in rendered and "<b>bold" not in rendered
        assert "&lt;script&gt;" in rendered and "&lt;b&gt;bold&lt;/b&gt;" in rendered
    assert "**Reviewed** &lt;script&gt;alert('x')&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &amp; `code`" in markdown
    assert "- Model URI: `models:/diabetes_regressor/1`" in markdown  # code spans stay literal
    assert json.loads(render_modeldoc(doc, "json"))["model"]["description"] == text  # a JSON string, as given


def test_a_download_event_names_the_archive_not_a_path_on_the_server(home, tmp_path):
    from pipelines.training import DEMO_MODELS, train_demo_model
    from registry.catalog import show_version

    train_demo_model(DEMO_MODELS["diabetes_regressor"])
    folder = tmp_path / "downloads"
    folder.mkdir()
    result = download_model("diabetes_regressor", folder, actor="analyst")  # a folder: the archive is named
    assert result.path == folder / "diabetes_regressor-v1.zip"
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    event = show_version("diabetes_regressor/1").events[0]
    assert (event.action, event.actor) == ("downloaded", "analyst")
    assert event.details == {"file": "diabetes_regressor-v1.zip", "bytes": result.path.stat().st_size,
                             "sha256": result.sha256}
    assert str(tmp_path) not in json.dumps(event.details)


def _verify_archive(path):
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("MANIFEST.json"))
        names = set(archive.namelist()) - {"MANIFEST.json"}
        assert names == {entry["path"] for entry in manifest["files"]}
        for entry in manifest["files"]:
            data = archive.read(entry["path"])
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert len(data) == entry["bytes"]
    return manifest, names


def test_download_has_artifacts_modeldoc_requirements_and_a_checksummed_manifest(trained, tmp_path):
    settings, _ = trained
    result = download_model("breast_cancer_classifier", tmp_path / "out" / "bc.zip", settings)
    manifest, names = _verify_archive(result.path)
    assert (manifest["name"], manifest["version"]) == ("breast_cancer_classifier", 1)
    assert {"model/MLmodel", "model/model.skops", "model/modelyard/profile.json", "modeldoc.html",
            "modeldoc.json", "requirements.txt"} <= names
    assert list(tmp_path.joinpath("out").iterdir()) == [result.path]  # no partial files left


def test_download_refuses_a_non_zip_output_and_writes_nothing(trained, tmp_path):
    settings, _ = trained
    with pytest.raises(ModelyardError, match="must end in .zip"):
        download_model("breast_cancer_classifier", tmp_path / "bc.tar", settings)
    assert list(tmp_path.iterdir()) == []
