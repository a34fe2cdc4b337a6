"""The HTML report in a real browser: headless Chromium loads every embedded figure, and a full-page
screenshot is not blank. Skipped (with the reason) where Chromium is not installed; Debian:
``apt-get install chromium``. ``MBDPO_CHROMIUM`` names another binary; ``MBDPO_SCREENSHOT_DIR``, if
set, receives a copy of the screenshot and the report for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from analysis.report import write_report
from tests.helpers import own_runs, tdmpc2_repo

pytestmark = pytest.mark.browser

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")
FIGURES = ("aggregates", "performance_profiles", "probability_of_improvement", "sample_efficiency", "per_task")
# Marks each <img> once the page has loaded: data-loaded="yes" if the browser decoded it.
PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  imgs.forEach(function (img) {
    img.setAttribute("data-loaded", img.complete && img.naturalWidth > 0 ? "yes" : "no");
  });
  document.body.setAttribute("data-images", String(imgs.length));
  document.body.setAttribute("data-checked", "yes");
});
</script>"""


def chromium() -> str | None:
    names = [os.environ["MBDPO_CHROMIUM"]] if os.environ.get("MBDPO_CHROMIUM") else []
    names += ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
    return next((path for path in map(shutil.which, names) if path), None)


@pytest.fixture(scope="module")
def browser() -> str:
    path = chromium()
    if path is None:
        why = "headless Chromium not installed (Debian: apt-get install chromium; or set MBDPO_CHROMIUM)"
        if os.environ.get("MBDPO_REQUIRE_BROWSER") == "1":  # .ci/run installs it: never skip silently there
            pytest.fail(f"MBDPO_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    runs = own_runs(root / "runs")
    repo = tdmpc2_repo(root / "tdmpc2")
    out = root / "report"
    write_report(runs, out, baselines=[repo], reps=200, pairs=(("mbdpo", "tdmpc2"),))
    return out


def run_chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    result = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def loaded_images(browser: str, html: Path, tmp_path: Path) -> tuple[int, list[str]]:
    """(number of <img>, their data-loaded marks) after Chromium has loaded ``html`` with PROBE."""
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", PROBE + "\n</body>"))
    dom = run_chromium(browser, tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()).stdout
    assert 'data-checked="yes"' in dom, dom[-500:]
    count = int(re.search(r'data-images="(\d+)"', dom).group(1))
    return count, re.findall(r'data-loaded="(\w+)"', dom)


def test_every_figure_loads(browser: str, report_dir: Path, tmp_path: Path):
    html = report_dir / "report.html"
    text = html.read_text()
    assert re.findall(r'(?:src|href)="(?!data:|#)', text) == []  # self-contained
    assert text.count("<img ") == len(FIGURES)
    for name in FIGURES:
        assert f'id="fig-{name}"' in text
    count, marks = loaded_images(browser, html, tmp_path)
    assert count == len(FIGURES) and marks == ["yes"] * len(FIGURES)


def test_probe_detects_a_broken_image(browser: str, report_dir: Path, tmp_path: Path):
    broken = tmp_path / "broken.html"
    broken.write_text(
        (report_dir / "report.html")
        .read_text()
        .replace("</body>", '<img src="data:image/png;base64,AAAA" alt="broken"></body>')
    )
    count, marks = loaded_images(browser, broken, tmp_path)
    assert count == len(FIGURES) + 1 and marks.count("no") == 1


def test_screenshot_is_not_blank(browser: str, report_dir: Path, tmp_path: Path):
    shot = tmp_path / "report.png"
    run_chromium(
        browser, tmp_path, f"--screenshot={shot}", "--window-size=1280,4000", (report_dir / "report.html").as_uri()
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (4000, 1280)
    ink = (pixels < 0.9).any(axis=-1).mean()  # fraction of pixels that are not (near) white
    assert pixels.std() > 0.05 and ink > 0.02, (pixels.std(), ink)
    target = os.environ.get("MBDPO_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / "report.png")
        shutil.copy(report_dir / "report.html", Path(target) / "report.html")
    assert np.isfinite(pixels).all()
