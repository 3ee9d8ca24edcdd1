"""The HTML report in a real browser: Debian's Chromium, headless, driven by Selenium.

Opens a report written by the installed ``scalinglab report`` console script and checks that the
page logs no console error, requests nothing beyond the file itself, and renders every figure
with a non-zero size.  A full-page screenshot is saved to ``test-artifacts/report.png``.
Skipped (with the reason) only where Chromium or its driver is not installed; ``.ci/run``
installs both.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.isoflop_tables import hoffmann_isoflop_runs

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".venv" / "bin" / "scalinglab"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic", "--disable-dev-shm-usage", "--window-size=1280,1000")

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does)")


def _isoflop_table(path: Path) -> Path:
    """Runs on five IsoFLOP lines of the Hoffmann 2022 law with 1% multiplicative noise."""
    hoffmann_isoflop_runs().drop(columns="final").to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    if not SCRIPT.exists():
        pytest.skip(f"the console script {SCRIPT} is not installed (make .venv/.installed)")
    work = tmp_path_factory.mktemp("report")
    table = _isoflop_table(work / "runs.csv")
    out = work / "report.html"
    done = subprocess.run([str(SCRIPT), "report", str(table), "--bootstrap", "100",
                           "-o", str(out), "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra) missing")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="scalinglab-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_report_renders_offline_without_errors(report, browser):
    path, written = report
    assert {"loss_vs_compute", "isoflop_profiles", "optimal_allocation", "loss_contours",
            "residuals"} <= set(written["figures"])
    url = path.resolve().as_uri()
    browser.get("about:blank")  # the start page's own requests are not the report's
    browser.get_log("performance")
    browser.get_log("browser")
    browser.get(url)
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.title.startswith("Scaling-law fit")

    # no console errors
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors

    # no request beyond the file itself: neither as resource timing entries nor on the wire
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources == []
    requested = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.add(message["params"]["request"]["url"])
    # images inside the SVGs (e.g. colour bars) are data: URLs -- part of the file, not fetched
    beyond = {u for u in requested - {url} if not u.startswith("data:")}
    assert beyond == set(), beyond
    assert url in requested

    # every figure rendered with a non-zero size, one <svg> per figure the CLI reported
    boxes = browser.execute_script("""
        return Array.from(document.querySelectorAll('figure[data-figure]')).map(f => {
            const svg = f.querySelector('svg');
            const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return [f.dataset.figure, r.width, r.height, svg ? svg.querySelectorAll('path').length : 0];
        })""")
    assert [b[0] for b in boxes] == written["figures"]
    for key, width, height, n_paths in boxes:
        assert width > 300 and height > 150, (key, width, height)
        assert n_paths > 20, (key, n_paths)  # axes, ticks, glyphs and data were drawn
    # the omitted figures are named with a reason
    omitted = browser.execute_script(
        "return Array.from(document.querySelectorAll('[data-omitted]')).map(e => e.dataset.omitted)")
    assert omitted == list(written["omitted"])

    # a full-page screenshot as the test's artefact
    height = browser.execute_script("return document.documentElement.scrollHeight")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": min(height, 16000), "scale": 1}})
    ARTIFACTS.mkdir(exist_ok=True)
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (ARTIFACTS / "report.png").write_bytes(png)
