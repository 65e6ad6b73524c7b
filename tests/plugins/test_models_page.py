"""The Models page in a real browser (Debian's Chromium driven by Playwright) on the real stack.

A user logs in on Airflow's own login page, opens **Models** from the navigation, and uses the
three-dot Actions menu: Deploy Model (to a live endpoint that answers), Download (a zip whose
manifest checks out), Associate Scoring Workflow (the DAG appears in Airflow), ModelDoc and
Challenge with… (a shadow challenger compared in the Challenge section, then ended). A
viewer sees no change actions and gets 403 when forcing one. Screenshots of each step are
saved under ``var/screenshots/models-page/`` for a person to look at.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from datetime import datetime, timezone
from hashlib import sha256
from pathlib import Path

import httpx
import pytest

from benchmarks.models_page import CHROMIUM, chromium
from tests.plugins.conftest import Platform

pytestmark = pytest.mark.timeout(900)
SHOTS = Path(__file__).parents[2] / "var" / "screenshots" / "models-page"
MODEL = "breast_cancer_classifier"
DIABETES = "diabetes_regressor"  # the model the challenge and swap tests serve
DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium with apt-get")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as launched:
        yield launched


class Session:
    """One user's browser tab on the platform, with what it asked of other hosts and what broke."""

    def __init__(self, browser, platform: Platform, *, width=1280, height=800, color_scheme="light"):
        self.platform = platform
        self.context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True,
                                           color_scheme=color_scheme)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", self._note_request)

    def _note_request(self, request) -> None:
        if not request.url.startswith((self.platform.base_url, "data:", "blob:", "about:")):
            self.elsewhere.append(request.url)

    def log_in(self, user: str) -> None:
        """Through Airflow's own login form, as a person would."""
        page = self.page
        page.goto(self.platform.base_url)
        page.get_by_label("Username").fill(user)
        page.get_by_label("Password").fill(self.platform.passwords[user])
        page.get_by_role("button", name="Sign in").click()
        self.nav_entry().wait_for(timeout=60_000)

    def nav_entry(self):
        """The top-level Models entry of Airflow's navigation."""
        return self.page.get_by_test_id("nav-sidebar").get_by_role("link", name="Models")

    def open_models(self) -> None:
        self.nav_entry().click()
        self.page.get_by_test_id("models-table").wait_for(timeout=60_000)

    def shot(self, name: str) -> Path:
        """A screenshot once the page's finite animations (a menu fading in) have ended; a
        spinner's never does."""
        self.page.wait_for_function("""() => document.getAnimations().every(
            a => a.playState !== 'running' || a.effect.getComputedTiming().endTime === Infinity)""", timeout=10_000)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def row(self, name: str = MODEL):
        return self.page.locator(f'[data-testid="model-row"][data-model="{name}"]')

    def action(self, item: str, name: str = MODEL) -> None:
        self.row(name).get_by_test_id("model-actions").click()
        self.page.get_by_role("menuitem", name=item).click()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def admin(browser, platform):
    session = Session(browser, platform)
    session.log_in("admin1")
    yield session
    assert session.errors == [], session.errors
    assert session.elsewhere == [], f"the page asked other hosts: {session.elsewhere}"
    session.close()


def test_the_list_and_the_actions_menu(admin):
    from playwright.sync_api import expect

    page = admin.page
    admin.open_models()
    assert page.url.endswith("/plugin/models")
    expect(page.get_by_test_id("model-row")).to_have_count(2)
    expect(admin.row()).to_contain_text("roc_auc")
    admin.shot("list")
    admin.row().get_by_test_id("model-actions").click()
    for item in ("Deploy Model", "Undeploy", "Rollback", "Challenge with…", "Download", "Associate Scoring Workflow",
                 "ModelDoc", "Details"):
        expect(page.get_by_role("menuitem", name=item)).to_be_visible()
    for item in ("Undeploy", "Rollback", "Challenge with…"):  # nothing of this model is serving yet
        expect(page.get_by_role("menuitem", name=item)).to_be_disabled()
    expect(page.get_by_role("menuitem", name="Deploy Model")).to_be_enabled()
    admin.shot("actions-menu")
    page.keyboard.press("Escape")
    search = page.get_by_test_id("models-search")
    for needle, shown in (("diabetes", ["diabetes_regressor"]), ("regression", ["diabetes_regressor"]),  # task
                          ("sklearn", [MODEL, "diabetes_regressor"])):  # flavor (alias and description: below)
        search.fill(needle)
        expect(page.get_by_test_id("model-row")).to_have_count(len(shown))
        assert sorted(page.get_by_test_id("model-row").evaluate_all("rows => rows.map(r => r.dataset.model)")) == sorted(shown)


def test_deploy_from_the_menu_until_the_endpoint_answers(admin):
    from playwright.sync_api import expect

    from tests.servers import free_port

    page = admin.page
    admin.open_models()
    admin.action("Deploy Model")
    page.get_by_test_id("deploy-port").fill(str(free_port()))
    page.get_by_test_id("deploy-confirm").click()
    expect(page.get_by_test_id("workflow-step")).to_have_count(6, timeout=30_000)  # swap, then the five of a first deploy
    expect(page.locator('[data-testid="workflow-step"][data-step="build"]')).not_to_have_attribute(
        "data-state", "none", timeout=120_000)
    admin.shot("deploy-progress")
    expect(page.get_by_test_id("workflow-state")).to_have_attribute("data-state", "success", timeout=400_000)
    url = page.get_by_test_id("deploy-url").inner_text().strip()
    curl = page.get_by_test_id("deploy-curl").inner_text()
    admin.shot("deploy-live")
    assert url.startswith("http://127.0.0.1:") and curl.startswith(f"curl -s -X POST {url}/predict")
    example = json.loads(curl.split(" -d ", 1)[1].strip().strip("'"))
    answer = httpx.post(f"{url}/predict", json=example, timeout=30)
    assert answer.status_code == 200 and answer.json()["model_version"] == 1
    page.keyboard.press("Escape")
    expect(admin.row().get_by_test_id("deployment-url")).to_have_text(url, timeout=30_000)
    admin.row().get_by_test_id("model-actions").click()
    expect(page.get_by_role("menuitem", name="Undeploy")).to_be_enabled()
    rollback = page.get_by_role("menuitem", name="Rollback")
    expect(rollback).to_be_disabled()  # version 1 is the only one ever deployed
    expect(rollback.get_by_test_id("rollback-reason")).to_have_text(
        "No earlier deployed version to roll back to (version 1 is the only one)")
    admin.shot("rollback-disabled")
    page.get_by_role("menuitem", name="Undeploy").click()  # says what it will do, then is cancelled
    expect(page.get_by_test_id("undeploy-consequence")).to_contain_text(
        "its port is freed for any later deploy, and the production alias is removed")
    page.get_by_test_id("undeploy-dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("undeploy-dialog")).to_have_count(0)


def test_the_deployments_table_shows_the_endpoint_port(admin, platform):
    """The port a client calls is the endpoint's (the gateway's); a replica's is detail beside it."""
    from playwright.sync_api import expect

    from registry.deployments import list_deployments

    [live] = [d for d in list_deployments(settings=platform.settings) if d.status == "running" and d.model_name == MODEL]
    page = admin.page
    page.goto(f"{platform.base_url}/plugin/models/{MODEL}")
    row = page.get_by_test_id("deployment-row").first
    expect(row.get_by_test_id("deployment-port")).to_have_text(str(live.endpoint_port), timeout=60_000)
    assert live.url.endswith(f":{live.endpoint_port}") and live.port != live.endpoint_port
    expect(row.get_by_test_id("deployment-replica-ports")).to_contain_text(f"internal port {live.replicas[0].port}")
    runtime = row.get_by_test_id("deployment-runtime")  # what answers, and why (compiled only at parity)
    expect(runtime).to_contain_text(live.runtime.runtime)
    expect(runtime.locator("[title]").first).to_have_attribute("title", live.runtime.summary)
    # its bento's tag, or "building…" while a swap's is built after it began to serve
    expect(row.get_by_test_id("deployment-bento")).to_have_text(
        re.compile(rf"^(building…|{re.escape(MODEL)}:v{live.model_version}-\S+)$"))
    page.get_by_test_id("deployments-section").scroll_into_view_if_needed()
    admin.shot("deployments-endpoint-port")


def test_download_a_version_as_a_checksummed_zip(admin):
    page = admin.page
    admin.open_models()
    admin.action("Download")
    with page.expect_download() as downloading:
        page.get_by_test_id("download-link").click()
    download = downloading.value
    assert download.suggested_filename == f"{MODEL}-v1.zip"
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    manifest = json.loads(archive.read("MANIFEST.json"))
    assert (manifest["name"], manifest["version"], manifest["created_by"]) == (MODEL, 1, "admin1")
    assert all(sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"] for entry in manifest["files"])


def test_associate_a_scoring_workflow_and_see_its_dag(admin, platform):
    from playwright.sync_api import expect

    from pipelines.training import load_dataset

    page = admin.page
    root = platform.settings.data_roots[0]
    (Path(root) / "page-input").mkdir(parents=True, exist_ok=True)
    load_dataset("breast_cancer")[0].to_parquet(Path(root) / "page-input" / "day.parquet")
    admin.open_models()
    admin.action("Associate Scoring Workflow")
    form = page.get_by_test_id("association-form")
    form.wait_for()
    page.get_by_test_id("assoc-schedule").fill("0 2 * * *")
    expect(page.get_by_test_id("cron-next-runs").locator("li")).to_have_count(3, timeout=15_000)
    page.get_by_test_id("assoc-input_path").fill("/etc/passwd")
    page.get_by_test_id("assoc-output_path").fill(f"{root}/page/{{{{ ds }}}}")
    page.get_by_test_id("assoc-name").fill("page_nightly")
    page.get_by_test_id("assoc-save").click()
    error = page.locator('[data-testid="field-error"][data-field="input_path"]')
    expect(error).to_contain_text("outside the data roots", timeout=30_000)
    admin.shot("association-form")
    page.get_by_test_id("assoc-input_path").fill(f"{root}/page-input")
    page.get_by_test_id("assoc-save").click()
    expect(page.get_by_test_id("assoc-created")).to_contain_text("score__page_nightly", timeout=30_000)
    admin.shot("association-created")
    with platform.rest() as rest:
        rest.wait_for_dag("score__page_nightly", timeout=60)
        assert rest.get("/api/v2/dags/score__page_nightly")["is_paused"] is False
    listed = page.locator('[data-testid="association-dialog"] [data-testid="association"][data-name="page_nightly"]')
    listed.get_by_role("button", name="Run now").click()
    expect(page.get_by_test_id("workflow-step")).to_have_count(4, timeout=30_000)
    expect(page.get_by_test_id("workflow-airflow-link")).to_have_attribute("href", re.compile("dags/score__page_nightly/runs/"))
    steps = page.get_by_test_id("workflow-step")
    expect(steps.first).to_contain_text("Resolve model")
    assert "resolve_model" not in page.get_by_test_id("workflow-steps").inner_text()
    page.get_by_test_id("workflow-steps").scroll_into_view_if_needed()
    admin.shot("association-run-now")
    expect(page.get_by_test_id("workflow-state")).to_have_attribute("data-state", "success", timeout=400_000)
    result = page.get_by_test_id("scoring-result")
    expect(result.get_by_test_id("scoring-rows-in")).to_have_text("Rows in 569")
    counts = [int(result.get_by_test_id(f"scoring-rows-{kind}").inner_text().split()[-1].replace(",", ""))
              for kind in ("scored", "rejected")]
    assert sum(counts) == 569 and counts[0] > 500, counts  # quarantine: rows outside the training ranges apart
    today = datetime.now(timezone.utc).date().isoformat()
    expect(result.get_by_test_id("scoring-output")).to_have_text(f"{root}/page/{today}")
    result.scroll_into_view_if_needed()
    admin.shot("association-run-done")

    listed.get_by_role("button", name="Remove").click()
    page.get_by_test_id("association-remove-confirm-button").click()
    expect(listed).to_have_count(0, timeout=30_000)
    with platform.rest() as rest:  # right after Remove: not in Airflow's list, paused where it is kept
        assert rest.get("/api/v2/dags", dag_id_pattern="score__page_nightly")["dags"] == []
        assert rest.get("/api/v2/dags/score__page_nightly")["is_paused"] is True


def test_the_modeldoc_inside_the_page(admin):
    from playwright.sync_api import expect

    page = admin.page
    admin.open_models()
    admin.action("ModelDoc")
    frame = page.frame_locator('[data-testid="modeldoc-frame"]')
    expect(frame.locator("body")).to_contain_text(MODEL, timeout=60_000)
    expect(frame.locator("body")).to_contain_text("roc_auc")
    assert page.get_by_test_id("modeldoc-frame").get_attribute("sandbox") == ""
    page.get_by_test_id("description-edit").fill("Edited in the page: <b>not bold</b>")
    page.get_by_test_id("description-save").click()
    expect(page.get_by_test_id("description-saved")).to_be_visible(timeout=30_000)
    expect(frame.locator("body")).to_contain_text("Edited in the page: <b>not bold</b>", timeout=30_000)
    expect(page.get_by_test_id("description-listed")).to_contain_text("v1 is the latest version")
    admin.shot("modeldoc")
    page.keyboard.press("Escape")  # the list shows the description the ModelDoc edited
    expect(admin.row()).to_contain_text("Edited in the page: <b>not bold</b>", timeout=30_000)


def test_the_detail_view_and_dark_mode(browser, platform):
    from playwright.sync_api import expect

    session = Session(browser, platform, width=1920, height=1080, color_scheme="dark")
    try:
        session.log_in("admin1")
        session.page.goto(f"{platform.base_url}/plugin/models/{MODEL}")
        expect(session.page.get_by_test_id("model-detail")).to_be_visible(timeout=60_000)
        expect(session.page.get_by_test_id("versions-table")).to_contain_text("roc_auc")
        expect(session.page.get_by_test_id("events-table")).to_contain_text("deployed")
        session.page.get_by_test_id("alias-name").fill("staging")
        session.page.get_by_test_id("alias-save").click()
        expect(session.page.get_by_test_id("alias-saved")).to_be_visible(timeout=30_000)
        expect(session.page.get_by_test_id("model-detail")).to_contain_text("staging")
        session.shot("detail-dark")
        session.open_models()
        session.shot("list-dark-1920")
        assert session.errors == []
    finally:
        session.close()


def test_an_alias_is_removed_in_the_detail_view(admin, platform):
    from playwright.sync_api import expect

    from registry.store import mlflow_client

    page = admin.page
    page.goto(f"{platform.base_url}/plugin/models/{MODEL}")
    page.get_by_test_id("alias-name").fill("challenger")
    page.get_by_test_id("alias-save").click()
    badge = page.locator('[data-testid="alias-badge"][data-alias="challenger"]')
    expect(badge).to_be_visible(timeout=30_000)
    remove = page.locator('[data-testid="alias-remove"][data-alias="challenger"]')
    expect(remove).to_have_text("challenger→v1")
    admin.shot("alias-before-removal")
    remove.click()
    expect(page.get_by_test_id("alias-saved")).to_have_text("Removed challenger (it pointed at v1).", timeout=30_000)
    expect(badge).to_have_count(0)
    expect(remove).to_have_count(0)
    expect(page.get_by_test_id("events-table")).to_contain_text("alias_removed")
    admin.shot("alias-removed")
    assert "challenger" not in mlflow_client(platform.settings).get_registered_model(MODEL).aliases


def test_long_history_details_wrap_inside_the_page(browser, platform):
    """An event with long details (a 100-character association name) stays inside the table on
    a 1024 px window; its whole text is one click (or the tooltip) away."""
    from playwright.sync_api import expect

    from registry.associations import create_association, remove_association

    root = platform.settings.data_roots[0]
    long_name = "a_very_long_association_name_" + "x" * 71
    create_association(f"{MODEL}/1", input_path=f"{root}/{'deep/' * 12}in", output_path=f"{root}/{'deeper/' * 12}out",
                       name=long_name, settings=platform.settings, actor="admin1")
    remove_association(long_name, platform.settings, actor="admin1")
    admin = Session(browser, platform, width=1024, height=768)
    admin.log_in("admin1")
    page = admin.page
    page.goto(f"{platform.base_url}/plugin/models/{MODEL}")
    events = page.get_by_test_id("events-table")
    expect(events).to_contain_text("a_very_long_association_name_", timeout=60_000)
    details = events.locator('[data-testid="event-row"][data-action="associated"] [data-testid="event-details"] p').first
    assert long_name in (details.get_attribute("title") or "")
    widths = events.evaluate("table => [table.parentElement.scrollWidth, table.parentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the history is {widths[0]} px wide in {widths[1]} px"
    page_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert page_width[0] <= page_width[1], page_width
    details.click()
    expect(details).to_have_attribute("data-open", "true")
    page.get_by_test_id("events-section").scroll_into_view_if_needed()
    admin.shot("history-wrapped")
    assert admin.errors == []
    admin.close()


def test_a_viewer_sees_no_change_action_and_is_refused_one(browser, platform):
    """The viewer is a login added as a team's would be (``stack.logins``, see conftest)."""
    from playwright.sync_api import expect

    from stack.logins import Login, list_logins

    assert Login(name="viewer1", role="viewer", source="added") in list_logins(platform.settings)
    viewer = Session(browser, platform)
    try:
        viewer.log_in("viewer1")
        viewer.open_models()
        viewer.row().get_by_test_id("model-actions").click()
        for item in ("Download", "ModelDoc", "Details"):
            expect(viewer.page.get_by_role("menuitem", name=item)).to_be_visible()
        for item in ("Deploy Model", "Undeploy", "Rollback", "Challenge with…", "Associate Scoring Workflow"):
            expect(viewer.page.get_by_role("menuitem", name=item)).to_have_count(0)
        viewer.shot("viewer-menu")
        for method, path, body in (("POST", f"models/{MODEL}/undeploy", {}),
                                   ("PUT", f"models/{MODEL}/versions/1/description", {"description": "x"}),
                                   ("PUT", f"models/{MODEL}/aliases/champion", {"version": 1}),
                                   ("DELETE", f"associations/{MODEL}", None)):
            forced = viewer.page.evaluate("""async ([method, path, body]) => {
                const url = new URL(`modelyard/api/${path}`, document.baseURI);
                const response = await fetch(url, {method, credentials: "same-origin",
                    headers: {"Content-Type": "application/json"}, body: body && JSON.stringify(body)});
                return [response.status, await response.json()];
            }""", [method, path, body])
            assert forced[0] == 403 and "needs the op or admin role" in forced[1]["detail"], (method, path, forced)
        assert viewer.errors == []
    finally:
        viewer.close()


def test_challenge_with_another_version_compare_it_and_end_it(browser, platform):
    """The diabetes model served, a one-split tree put beside it in shadow from the Actions menu:
    requests and their labels reach the Challenge section (both versions' figures, their agreement,
    the labels favouring the champion), a viewer reads it without Promote or End, and End challenge
    leaves it in the history. The model is served afterwards only if it was before."""
    from playwright.sync_api import expect

    from registry.challenges import active_challenge

    champion, served_before = _serve_diabetes(platform)
    challenger = _train_a_stump(platform)
    with platform.rest() as rest:
        rest.wait_for_dag("challenge_model", timeout=180)
    session = Session(browser, platform, width=1440, height=2000)  # the whole section in view, for its screenshot
    try:
        session.log_in("admin1")
        page = session.page
        page.goto(f"{platform.base_url}/plugin/models/{DIABETES}")
        section = page.get_by_test_id("challenge-section")
        expect(section.get_by_test_id("challenge-active")).to_have_count(0, timeout=60_000)
        _start_challenge_from_the_menu(page, challenger)
        expect(section.get_by_test_id("challenge-who")).to_contain_text(
            f"v{challenger} challenges v{champion.model_version} · shadow 100%", timeout=30_000)
        started = active_challenge(DIABETES, settings=platform.settings)
        assert (started.mode, started.percent, started.started_by) == ("shadow", 100.0, "admin1")
        assert (started.rule.auto_promote, started.rule.min_labelled) == (False, 50)
        page.get_by_test_id("model-actions").click()  # one challenger at a time, and the menu says so
        item = page.get_by_role("menuitem", name="Challenge with…")
        expect(item).to_have_attribute("data-reason", f"Challenge {started.id} (v{challenger}) is active: promote "
                                                      "or end it first", timeout=30_000)
        expect(item).to_be_disabled()
        page.keyboard.press("Escape")

        _send_requests_with_labels(platform, champion.url, count=100)
        agreement = section.get_by_test_id("challenge-agreement")  # evaluated anew at most every 30 s
        expect(agreement).to_contain_text("requests answered by both", timeout=90_000)
        expect(section.get_by_test_id("challenge-labelled")).to_have_attribute("data-better", "champion", timeout=90_000)
        # a shadow's copies are background work: the last may be logged after an evaluation ran
        deadline = time.monotonic() + 90
        while int(agreement.get_attribute("data-paired")) < 90 and time.monotonic() < deadline:
            page.wait_for_timeout(2_000)
        assert int(agreement.get_attribute("data-paired")) >= 90
        expect(section.get_by_test_id("challenge-labelled")).to_contain_text("rmse: challenger")
        expect(section.get_by_test_id("challenge-figures")).to_contain_text(f"Challenger v{challenger}")
        expect(section.get_by_test_id("challenge-gateway")).to_contain_text("mirrored")
        expect(section.get_by_test_id("challenge-where")).to_be_visible()
        expect(section.get_by_test_id("challenge-checks")).to_contain_text("labelled rows")
        expect(section.get_by_test_id("challenge-rule")).to_have_text("It never promotes by itself.")
        section.scroll_into_view_if_needed()
        session.shot("detail-challenge")  # let animations settle
        section.screenshot(path=str(SHOTS / "challenge-section.png"))

        _a_viewer_reads_the_challenge(browser, platform, challenger)

        section.get_by_test_id("challenge-end").click()
        expect(page.get_by_test_id("challenge-decision-consequence")).to_contain_text(
            f"v{champion.model_version} keeps answering every request")
        page.get_by_test_id("challenge-end-confirm").click()
        expect(page.get_by_test_id("workflow-state")).to_have_attribute("data-state", "success", timeout=400_000)
        page.keyboard.press("Escape")
        ended = section.locator('[data-testid="challenge-history-row"]').first
        expect(ended).to_have_attribute("data-status", "ended", timeout=30_000)
        expect(ended).to_contain_text(f"v{challenger} challenged v{champion.model_version}")
        expect(ended.get_by_test_id("challenge-outcome")).to_contain_text("ended by admin1")
        expect(section.get_by_test_id("challenge-promote")).to_have_count(0)
        assert active_challenge(DIABETES, settings=platform.settings) is None
        assert session.errors == []
    finally:
        session.close()
        _leave_diabetes_as_found(platform, served_before)



def test_a_new_version_and_a_rollback_load_into_warm_spares_from_the_page(admin, platform):
    """Deploy Model with version 2 of a serving model, then Rollback, each timed from the click to
    the model's URL answering with that version: both load into the model's warm spare
    (``bento_services.swaps``), so the run's Swap step succeeds and the cold steps are skipped.
    The times are written beside the screenshots (``swap-times.json``), not asserted."""
    from playwright.sync_api import expect

    from bento_services import spares
    from tests.servers import until

    served, served_before = _serve_diabetes(platform)
    page, times = admin.page, {}
    try:
        for label, version in (("deploy", 2), ("rollback", served.model_version)):
            assert until(lambda: any(spares.is_ready(spare) for spare in spares.recorded(DIABETES, platform.settings)),
                         timeout=180.0), f"no spare of {DIABETES} got ready"
            admin.open_models()
            if label == "deploy":
                admin.action("Deploy Model", DIABETES)
                page.get_by_test_id("deploy-ref").select_option(str(version))
            else:
                expect(admin.row(DIABETES).get_by_test_id("deployment-url")).to_have_text(served.url, timeout=30_000)
                admin.action("Rollback", DIABETES)
            started = time.monotonic()
            page.get_by_test_id(f"{label}-confirm").click()
            assert until(lambda: _answers_version(served.url, version), timeout=120.0), f"{label} never went live"
            times[f"{label}_click_to_live_s"] = round(time.monotonic() - started, 2)
            expect(page.get_by_test_id("workflow-state")).to_have_attribute("data-state", "success", timeout=120_000)
            times[f"{label}_click_to_success_shown_s"] = round(time.monotonic() - started, 2)
            swap = page.locator('[data-testid="workflow-step"][data-step="swap"]')
            expect(swap).to_have_attribute("data-state", "success")
            cold = "build" if label == "deploy" else "previous_build"
            expect(page.locator(f'[data-testid="workflow-step"][data-step="{cold}"]')).to_have_attribute(
                "data-state", "skipped")
            admin.shot(f"swap-{label}")
            page.keyboard.press("Escape")
        print(f"from the Models page: {times}")
        (SHOTS / "swap-times.json").write_text(json.dumps(times, indent=2))
        assert admin.errors == []
    finally:
        _leave_diabetes_as_found(platform, served_before)


def _answers_version(url: str, version: int) -> bool:
    try:
        answer = httpx.post(f"{url}/predict", json={"columns": {name: [0.0] for name in DIABETES_FEATURES}}, timeout=5.0)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.json()["model_version"] == version


def _serve_diabetes(platform):
    """The running deployment of the diabetes model (deployed here when nothing served it), and
    whether one served it before."""
    from registry.deployments import list_deployments
    from tests.servers import free_port

    def running():
        return [d for d in list_deployments(settings=platform.settings, live=False)
                if d.model_name == DIABETES and d.status == "running"]

    if running():
        return running()[0], True
    with platform.client("admin1") as client:
        response = client.post(f"/models/{DIABETES}/deploy", json={"ref": "1", "port": free_port(), "replicas": 1})
        assert response.status_code == 202, response.text
        assert platform.wait_run(client, response.json())["state"] == "success"
    return running()[0], False


def _train_a_stump(platform) -> int:
    """A version that answers differently from the served one: a two-level tree."""
    import dataclasses

    from sklearn.tree import DecisionTreeRegressor

    from pipelines.training import DEMO_MODELS, train_demo_model

    stump = dataclasses.replace(DEMO_MODELS[DIABETES], build=lambda: DecisionTreeRegressor(max_depth=2, random_state=0))
    return int(train_demo_model(stump, platform.settings).version)


def _start_challenge_from_the_menu(page, challenger: int) -> None:
    """Challenge with… from the model's Actions menu: the stump, in shadow for every request, judged on 50 labels
    and never promoted by itself."""
    from playwright.sync_api import expect

    page.get_by_test_id("model-actions").click()
    page.get_by_role("menuitem", name="Challenge with…").click()
    dialog = page.get_by_test_id("challenge-dialog")
    dialog.get_by_test_id("challenge-ref").select_option(str(challenger))
    percent = dialog.get_by_test_id("challenge-percent")
    dialog.get_by_test_id("challenge-mode-canary").click()
    expect(percent).to_have_value("10")
    expect(dialog.get_by_test_id("challenge-sticky")).to_be_visible()
    dialog.get_by_test_id("challenge-mode-shadow").click()
    expect(percent).to_have_value("100")
    expect(dialog.get_by_test_id("challenge-sticky")).to_have_count(0)
    dialog.get_by_test_id("challenge-auto-promote").click()
    dialog.get_by_test_id("challenge-min-labelled").fill("50")
    dialog.get_by_test_id("challenge-confirm").click()
    expect(dialog.get_by_test_id("workflow-state")).to_have_attribute("data-state", "success", timeout=400_000)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def _send_requests_with_labels(platform, url: str, *, count: int) -> None:
    """``count`` rows of the data set, one request each, then their true targets as labels."""
    from pipelines.training import load_dataset

    features, target = load_dataset("diabetes")
    labels = []
    with httpx.Client(timeout=30) as client:
        for index in range(count):
            request_id = f"challenge-page-{index}"
            answer = client.post(f"{url}/predict", json=[features.iloc[index].to_dict()],
                                 headers={"x-request-id": request_id})
            assert answer.status_code == 200, answer.text
            labels.append({"request_id": request_id, "label": float(target.iloc[index]), "row": 0})
    with platform.client("admin1") as client:
        response = client.post(f"/models/{DIABETES}/labels", json={"labels": labels})
        assert response.status_code == 201, response.text


def _a_viewer_reads_the_challenge(browser, platform, challenger: int) -> None:
    from playwright.sync_api import expect

    viewer = Session(browser, platform)
    try:
        viewer.log_in("viewer1")
        viewer.page.goto(f"{platform.base_url}/plugin/models/{DIABETES}")
        section = viewer.page.get_by_test_id("challenge-section")
        expect(section.get_by_test_id("challenge-who")).to_contain_text(f"v{challenger} challenges", timeout=60_000)
        expect(section.get_by_test_id("challenge-agreement")).to_be_visible()
        for button in ("challenge-promote", "challenge-end"):
            expect(section.get_by_test_id(button)).to_have_count(0)
        viewer.page.get_by_test_id("model-actions").click()
        expect(viewer.page.get_by_role("menuitem", name="Download")).to_be_visible()
        expect(viewer.page.get_by_role("menuitem", name="Challenge with…")).to_have_count(0)
        assert viewer.errors == []
    finally:
        viewer.close()


def _leave_diabetes_as_found(platform, served_before: bool) -> None:
    """End a challenge a failure left active; undeploy what this test deployed."""
    from registry.challenges import active_challenge

    with platform.client("admin1") as client:
        if active_challenge(DIABETES, settings=platform.settings) is not None:
            platform.wait_run(client, client.post(f"/models/{DIABETES}/challenge/end", json={}).json())
        if not served_before:
            platform.wait_run(client, client.post(f"/models/{DIABETES}/undeploy", json={}).json())


def test_many_models_stay_usable(browser, platform):
    """Runs last: fills the platform's registry with 60 models the way benchmarks/models_page.py
    does (and with its measuring functions), then pages and sorts them in the browser."""
    from playwright.sync_api import expect

    from benchmarks.models_page import browser_list, http_list, seed_models

    names = seed_models(platform.settings, 60, train=False)  # the platform's two models and 58 more
    cold, warm, total = http_list(platform.base_url, platform.token("viewer1"))
    assert total == len(names) == 60
    opened, sorted_s, shown = browser_list(browser, platform.base_url, platform.token("viewer1"))
    print(f"60 models: list API {warm:.3f} s warm, page shows its first {shown} rows in {opened:.1f} s")
    assert shown == 50  # one page of 50
    session = Session(browser, platform)
    try:
        session.log_in("viewer1")
        session.open_models()
        expect(session.page.get_by_test_id("page-indicator")).to_contain_text("2")
        session.page.get_by_test_id("next").click()
        expect(session.page.get_by_test_id("model-row")).to_have_count(10)
        session.page.get_by_test_id("models-search").fill(names[-1])
        expect(session.page.get_by_test_id("model-row")).to_have_count(1)
        session.shot("many-models-search")
    finally:
        session.close()


def test_key_metric_sorts_each_metric_best_first(browser, platform):
    """Runs last. Two regressors and two classifiers with known validation metrics: sorted by
    Key metric, rmse and roc_auc are never compared as one number, and the best of each comes
    first. The search finds them by their description and one by its alias."""
    from playwright.sync_api import expect

    names = _models_with_metrics(platform.settings, {
        "sortcheck_reg_bad": ("regression", "rmse", 90.0), "sortcheck_reg_good": ("regression", "rmse", 10.0),
        "sortcheck_clf_bad": ("classification", "roc_auc", 0.6), "sortcheck_clf_good": ("classification", "roc_auc", 0.95),
    })
    session = Session(browser, platform)
    try:
        session.log_in("viewer1")
        session.open_models()
        page = session.page
        page.get_by_test_id("models-search").fill("fixture for the metric sort")  # their description
        expect(page.get_by_test_id("model-row")).to_have_count(4)
        header = page.locator('[data-sort="metric"]')
        assert "best first" in header.get_attribute("title")
        header.click()
        order = lambda: page.get_by_test_id("model-row").evaluate_all("rows => rows.map(r => r.dataset.model)")  # noqa: E731
        assert order() == ["sortcheck_reg_good", "sortcheck_reg_bad", "sortcheck_clf_good", "sortcheck_clf_bad"]
        session.shot("sorted-by-key-metric")
        header.click()
        assert order() == ["sortcheck_clf_bad", "sortcheck_clf_good", "sortcheck_reg_bad", "sortcheck_reg_good"]
        page.get_by_test_id("models-search").fill("sortcheck_alias")
        expect(page.get_by_test_id("model-row")).to_have_count(1)
        assert order() == [names[1]]
        session.shot("search-by-alias")
    finally:
        session.close()


def _models_with_metrics(settings, wanted: dict[str, tuple[str, str, float]]) -> list[str]:
    """Register each model from one MLflow run whose validation metric is the given value."""
    from registry.store import experiment_id, mlflow_client

    client = mlflow_client(settings)
    for name, (task, metric, value) in wanted.items():
        run = client.create_run(experiment_id(client, settings), run_name=name)
        client.log_metric(run.info.run_id, f"validation_{metric}", value)
        client.set_terminated(run.info.run_id)
        client.create_registered_model(name)
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                    description="A fixture for the metric sort",  # the list shows the version's
                                    tags={"modelyard.task": task, "modelyard.flavor": "sklearn",
                                          "modelyard.origin": "trained"})
    names = list(wanted)
    client.set_registered_model_alias(names[1], "sortcheck_alias", "1")
    return names


def test_the_monitoring_section_draws_each_chart_with_data(browser, platform):
    """Seeded windows (drift in three features from the sixth window on, labels, a batch run):
    each chart of the Monitoring section draws them, the alerts give their reasons, a bad
    threshold is refused beside its field, and All Models flags the model in red."""

    from playwright.sync_api import expect

    from tests.plugins.conftest import DRIFTED, STABLE, seed_monitoring

    records = seed_monitoring(platform.settings, MODEL)
    online = [record for record in records if record.source == "online"]
    session = Session(browser, platform, width=1440, height=2000)  # the whole section in view, for its screenshot
    try:
        session.log_in("admin1")
        page = session.page
        page.goto(f"{platform.base_url}/plugin/models/{MODEL}")
        section = page.get_by_test_id("monitoring-section")
        expect(section.get_by_test_id("drift-heatmap")).to_be_visible(timeout=60_000)
        expect(section.get_by_test_id("monitoring-alert-count")).to_have_text("4 open alerts")
        alerts = section.get_by_test_id("monitoring-alert")
        expect(alerts).to_have_count(4)
        for feature in DRIFTED:
            expect(section.locator(f'[data-testid="monitoring-alert"][data-subject="{feature}"]')).to_contain_text(
                f"{feature} drifted: PSI")
        for chart in ("requests-chart", "errors-chart", "latency-chart"):
            svg = section.get_by_test_id(chart).locator("svg")
            expect(svg).to_have_attribute("data-points", str(len(online) * (2 if chart == "latency-chart" else 1)))
        expect(section.get_by_test_id("latency-chart").get_by_test_id("chart-series")).to_have_count(2)
        expect(section.get_by_test_id("errors-chart").get_by_test_id("chart-line")).to_have_attribute("data-value", "0.01")
        expect(section.get_by_test_id("latency-chart").get_by_test_id("chart-line-above")).to_have_attribute(
            "data-value", "1000")  # 20-41 ms under a 1000 ms line: named, not drawn
        heatmap = section.get_by_test_id("drift-heatmap")
        expect(heatmap).to_have_attribute("data-windows", str(len(records)))
        expect(heatmap).to_have_attribute("data-features", str(len(DRIFTED) + len(STABLE)))
        assert heatmap.get_by_test_id("drift-cell").count() == len(records) * 6
        drift_began = online[5].window_start.isoformat().replace("+00:00", "")
        for feature in DRIFTED:
            row = heatmap.locator(f'[data-testid="drift-row"][data-feature="{feature}"]')
            assert row.get_attribute("data-since").startswith(drift_began), row.get_attribute("data-since")
            assert row.locator('[data-severity="danger"]').count() == 3
        for feature in STABLE:
            row = heatmap.locator(f'[data-testid="drift-row"][data-feature="{feature}"]')
            expect(row).to_have_attribute("data-since", "")
            assert row.locator('[data-severity="success"]').count() == len(records)
        expect(heatmap.get_by_test_id("batch-marker")).to_have_count(1)
        assert section.get_by_test_id("psi-line").evaluate_all("lines => lines.map(l => l.dataset.psi)") == ["0.1", "0.25"]
        prediction = section.get_by_test_id("prediction-drift-chart")
        expect(prediction.locator("svg")).to_have_attribute("data-points", str(len(online)))
        expect(prediction.get_by_test_id("chart-line")).to_have_count(2)
        expect(section.get_by_test_id("prediction-mix-bar")).to_have_count(2)
        metrics = section.get_by_test_id("metrics-chart")
        expect(metrics).to_have_count(2)
        expect(metrics.first.locator("svg")).to_have_attribute("data-points", str(len(online) - 1))
        section.scroll_into_view_if_needed()
        session.shot("detail")  # let animations settle
        path = SHOTS / "monitoring-section.png"
        section.screenshot(path=str(path))

        psi = section.get_by_test_id("threshold-psi")
        psi.fill("-1")
        section.get_by_test_id("thresholds-save").click()
        expect(section.locator('[data-testid="field-error"][data-field="psi"]')).to_be_visible(timeout=30_000)
        psi.fill("0.3")
        section.get_by_test_id("thresholds-save").click()
        expect(section.get_by_test_id("thresholds-saved")).to_be_visible(timeout=30_000)
        from registry.monitoring import latest_records, set_thresholds, thresholds_for

        assert thresholds_for(platform.settings, MODEL).psi == 0.3
        set_thresholds(platform.settings, MODEL, {"psi": 0.25}, actor="test")

        session.open_models()
        health = session.row().get_by_test_id("model-health")
        expect(health.get_by_test_id("alert-flag")).to_have_text("⚑ 4 alerts")
        red, green, blue, _ = health.get_by_test_id("alert-flag").evaluate("""e => {  // any CSS colour as RGB
            const pen = document.createElement("canvas").getContext("2d");
            pen.fillStyle = getComputedStyle(e).backgroundColor;
            pen.fillRect(0, 0, 1, 1);
            return Array.from(pen.getImageData(0, 0, 1, 1).data);
        }""")
        assert red > 150 and red > 2 * green and red > 2 * blue, (red, green, blue)
        expect(health.get_by_test_id("model-traffic")).to_contain_text("req/min")
        other = latest_records(platform.settings).get("diabetes_regressor")  # the API tests may have seeded it
        expect(session.row("diabetes_regressor").get_by_test_id("alert-flag")).to_have_count(
            1 if other and other.alerts else 0)
        session.shot("list-health")
        assert session.errors == []
    finally:
        session.close()


def test_a_viewer_reads_monitoring_but_edits_nothing(browser, platform):
    from playwright.sync_api import expect

    session = Session(browser, platform)
    try:
        session.log_in("viewer1")
        session.page.goto(f"{platform.base_url}/plugin/models/{MODEL}")
        section = session.page.get_by_test_id("monitoring-section")
        expect(section.get_by_test_id("thresholds")).to_be_visible(timeout=60_000)
        expect(section.get_by_test_id("thresholds-form")).to_have_count(0)
        expect(section.get_by_test_id("monitoring-run-now")).to_have_count(0)
        assert session.errors == []
    finally:
        session.close()
