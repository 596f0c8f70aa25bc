"""report.html in a real headless chromium (Selenium), rendered from fixture records.

The records are hand-made fixtures on two made-up machines with a made-up data set name: nothing here
is a Fashion-MNIST measurement. Skipped with the reason where chromium, chromedriver or selenium are
absent; `.ci/run` installs them. Every wait is a WebDriverWait on an explicit condition.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from test_report import OTHER_SHA, fixed_environment, make_record, six_runs, write

from bench.report import html

__all__ = ["fixed_environment"]  # autouse: every record gets the same fixed machine

CHROMIUM = os.environ.get("FRAMEBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FRAMEBENCH_CHROMEDRIVER", "/usr/bin/chromedriver")
MACHINE_A, MACHINE_B = "Fixture CPU A · 8 cores", "Fixture CPU B · 4 cores"
LATER = "2026-01-03T03:04:05Z"  # machine A's records: newer, and their own run ids (files)
WAIT = 30  # seconds an explicit condition may take on a loaded 2-core machine; never a sleep

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e .[test])"
)
if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
    pytest.skip(
        f"chromium/chromedriver not found at {CHROMIUM} and {CHROMEDRIVER} "
        "(apt-get install -y chromium chromium-driver)",
        allow_module_level=True,
    )
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


def fixture_records() -> list[dict]:
    """Two fixture machines: A has torch (two modes) and mxnet, B has torch and tensorflow."""
    found = [
        *six_runs("torch", machine=MACHINE_A, finished_at=LATER),
        *six_runs(
            "torch",
            mode="compile",
            machine=MACHINE_A,
            seconds=(3.0, 3.1, 2.9, 3.05, 2.95, 3.2),
            finished_at=LATER,
        ),
        *six_runs(
            "mxnet", machine=MACHINE_A, seconds=(12.0, 12.2, 11.8, 12.1, 11.9, 12.4), finished_at=LATER
        ),
        *six_runs(
            "torch", "mlp", machine=MACHINE_A, seconds=(1.0, 1.1, 0.9, 1.05, 0.95, 1.2), finished_at=LATER
        ),
        *six_runs("torch", machine=MACHINE_B, seconds=(8.0, 8.1, 7.9, 8.05, 7.95, 8.2)),
        *six_runs("tensorflow", machine=MACHINE_B, seconds=(4.0, 4.1, 3.9, 4.05, 3.95, 4.2)),
        make_record("jax", device="gpu", status="skipped", reason="fixture: no GPU"),
    ]
    for record in found:
        if record.get("data"):
            record["data"].update(name="fixture records (not Fashion-MNIST)", sha256=OTHER_SHA)
    return found


# forest_data's shape, by hand: what the report passes for the verdict's picture
FOREST = [
    {
        "title": f"cpu · {MACHINE_A} · sitting fixture · lenet",
        "rows": [
            {
                "framework": "torch",
                "mode": "compile",
                "ratio": 1.0,
                "low": None,
                "high": None,
                "label": "",
                "n": 6,
            },
            {
                "framework": "mxnet",
                "mode": "hybrid",
                "ratio": 0.25,
                "low": 0.24,
                "high": 0.26,
                "label": "slower",
                "n": 6,
            },
        ],
    },
    {
        "title": f"cpu · {MACHINE_B} · sitting fixture · lenet",
        "rows": [
            {
                "framework": "tensorflow",
                "mode": "function",
                "ratio": 1.0,
                "low": None,
                "high": None,
                "label": "",
                "n": 6,
            },
            {
                "framework": "torch",
                "mode": "eager",
                "ratio": 0.5,
                "low": 0.3,
                "high": 1.2,
                "label": "open",
                "n": 6,
            },
        ],
    },
]
WIDTHS = (1400, 800)
SCREENSHOTS = os.environ.get("FRAMEBENCH_SCREENSHOTS")  # a folder to keep the screenshots in, to look at


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("html")
    mp = pytest.MonkeyPatch()
    from bench import records

    mp.setattr(records, "environment", lambda: {"host_id": "fixture", "framebench_commit": "f" * 40})
    try:
        write(results, *fixture_records())
    finally:
        mp.undo()
    return results


@pytest.fixture(scope="module")
def page(results_dir) -> Path:
    # no verdict_markdown: the page computes REPORT.md's verdict block itself
    return html.write_html([results_dir], results_dir / "report.html", forest=FOREST)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=1400,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def loaded(browser, page):
    """The page opened from disk, its first render done; the browser and performance logs of the load."""
    browser.get("about:blank")
    browser.get_log("performance")  # drained: what follows is the page's own
    browser.get(page.resolve().as_uri())
    WebDriverWait(browser, WAIT).until(lambda d: d.execute_script("return document.body.dataset.rendered"))
    WebDriverWait(browser, WAIT).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart-throughput .main-svg")) > 0
    )
    return browser, browser.get_log("browser"), browser.get_log("performance")


def chart_labels(driver, chart: str = "chart-throughput") -> list[str]:
    """The bars' labels: the category axis of the horizontal bars, every panel."""
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, f"#{chart} .yaxislayer-above text")]


def header(driver, name: str):
    return next(
        th for th in driver.find_elements(By.CSS_SELECTOR, "#cells thead th") if th.text.rstrip(" ▲▼") == name
    )


def column(driver, name: str) -> list[str]:
    headers = [th.text.rstrip(" ▲▼") for th in driver.find_elements(By.CSS_SELECTOR, "#cells thead th")]
    index = headers.index(name) + 1
    return [td.text for td in driver.find_elements(By.CSS_SELECTOR, f"#cells tbody tr td:nth-child({index})")]


def test_page_loads_with_no_console_error(loaded):
    _, console, _ = loaded
    errors = [entry for entry in console if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_no_request_leaves_the_file(loaded, page):
    _, _, performance = loaded
    urls = []
    for entry in performance:
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    assert page.resolve().as_uri() in urls  # the log does see requests: the page's own
    # chrome:// and friends are the browser's own pages (its new-tab page at start-up), not the network
    local = ("file", "data", "blob", "about", "chrome", "chrome-untrusted", "devtools")
    leaving = [u for u in urls if urlparse(u).scheme not in local]
    assert leaving == []


def test_each_chart_is_rendered_with_the_data(loaded):
    driver, _, _ = loaded
    for chart in ("chart-throughput", "chart-forest-0", "chart-forest-1"):
        assert driver.find_elements(By.CSS_SELECTOR, f"#{chart} .main-svg"), chart
    bars = driver.find_elements(By.CSS_SELECTOR, "#chart-throughput .point path")
    assert len(bars) == 4  # machine A: torch eager, torch compile, mxnet (lenet) + torch (mlp)
    assert not driver.find_elements(By.ID, "chart-overview")  # the accuracy-vs-throughput scatter is gone
    assert "fixture records (not Fashion-MNIST)" in driver.find_element(By.ID, "meta").text


def test_the_page_leads_with_the_verdict_then_its_picture(loaded, results_dir):
    from bench.report.collect import collect
    from bench.report.sections.verdict import headline, rank_frameworks

    driver, _, _ = loaded
    verdict = driver.find_element(By.ID, "verdict")
    assert verdict.location["y"] < driver.find_element(By.ID, "pickers").location["y"]
    # the same words as REPORT.md's verdict block: its headline for machine A's lenet
    rows = [
        r for r in collect([results_dir]).rows if r.group.machine == MACHINE_A and r.group.model == "lenet"
    ]
    expected = headline(rank_frameworks(rows))
    assert expected.replace("**", "") in " ".join(verdict.find_element(By.ID, "verdict-text").text.split())
    # then the picture: each block's rows in order, fastest first, its label beside each row
    titles = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#forest .forest-title")]
    assert titles == [block["title"] for block in FOREST]
    notes = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#chart-forest-1 .annotation-text")]
    assert notes[:2] == ["fastest 1.00×", "open 0.50× [0.30–1.20]"]
    assert (
        driver.find_element(By.ID, "forest").location["y"]
        > verdict.find_element(By.ID, "verdict-text").location["y"]
    )


def test_framework_colours_are_the_palette_everywhere(loaded):
    from bench.report.figures import FRAMEWORK_COLOURS

    driver, _, _ = loaded
    fills = driver.execute_script(
        "return [...document.querySelectorAll('#chart-throughput .legend .traces')].map("
        "t => [t.textContent, getComputedStyle(t.querySelector('.legendpoints path')).fill])"
    )
    assert {name for name, _ in fills} == {"torch", "mxnet"}
    for name, fill in fills:
        red, green, blue = (int(FRAMEWORK_COLOURS[name][i : i + 2], 16) for i in (1, 3, 5))
        assert fill == f"rgb({red}, {green}, {blue})", name


def _resize(driver, width: int) -> None:
    """The window at ``width``, and every chart relaid out for it (plotly's own promise, awaited)."""
    driver.set_window_size(width, 1000)
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script("return window.innerWidth") == width)
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all([...document.querySelectorAll('.js-plotly-plot')].map(e => Plotly.Plots.resize(e)))"
        ".then(() => done(true));"
    )


CLIPPED = """
const out = [];
for (const chart of document.querySelectorAll('.js-plotly-plot')) {
  const box = chart.getBoundingClientRect();
  for (const text of chart.querySelectorAll('.yaxislayer-above text, .xaxislayer-above text, '
                                            + '.annotation-text, .legendtext, .gtitle')) {
    const r = text.getBoundingClientRect();
    if (!text.textContent) continue;
    const outside = r.left < box.left - 1 || r.right > box.right + 1;
    if (outside || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
      out.push(`${chart.id}: ${text.textContent}`);
    }
  }
}
const boxes = '#verdict h3, #verdict h4, #verdict p, #verdict td, #cells th, .forest-title';
for (const el of document.querySelectorAll(boxes)) {
  const cut = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflow !== 'visible';
  if (cut) out.push(el.textContent);
}
return out;
"""

OVERLAPPING = """
const out = [];
for (const chart of document.querySelectorAll('.js-plotly-plot')) {
  const labels = [...chart.querySelectorAll('.yaxislayer-above text, .annotation-text, .legendtext')]
    .filter(t => t.textContent).map(t => [t.textContent, t.getBoundingClientRect()]);
  for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
    const [a, r] = labels[i], [b, s] = labels[j];
    if (r.left < s.right - 1 && s.left < r.right - 1 && r.top < s.bottom - 1 && s.top < r.bottom - 1) {
      out.push(`${chart.id}: ${a} / ${b}`);
    }
  }
}
return out;
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_readable_at_width(loaded, width, tmp_path_factory):
    """At 1400 and 800 px: the verdict shows, the legends exist, no label is clipped or overlaps another,
    and the table's key columns are on screen without scrolling sideways."""
    driver, _, _ = loaded
    try:
        _resize(driver, width)
        assert driver.find_element(By.ID, "verdict-text").is_displayed()
        assert "fastest" in driver.find_element(By.ID, "verdict-text").text
        for chart, names in (
            ("chart-forest-0", {"torch", "mxnet"}),
            ("chart-throughput", {"torch", "mxnet"}),
        ):
            legend = {e.text for e in driver.find_elements(By.CSS_SELECTOR, f"#{chart} .legend .legendtext")}
            assert legend == names, chart
        assert driver.execute_script(CLIPPED) == []
        assert driver.execute_script(OVERLAPPING) == []
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        viewport = driver.execute_script("return document.documentElement.clientWidth")
        for name in ("framework", "mode", "examples/s", "× fastest", "verdict"):
            cell = header(driver, name)
            assert cell.rect["x"] >= 0 and cell.rect["x"] + cell.rect["width"] <= viewport, (name, width)
        folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path_factory.mktemp("screenshots")
        folder.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(height + 200, 8000))
        assert driver.save_screenshot(str(folder / f"report-{width}.png"))
    finally:
        _resize(driver, 1400)


def test_verdict_markdown_is_rendered_as_text_never_markup():
    hostile = "\n".join(
        [
            "### cpu · <script>alert(1)</script> — commit abc",
            "⚠ Measured in 2 sittings: **a** and `b`.",
            "",
            "**lenet**: **torch (eager)** is fastest, 1.19× [1.06–1.34] the next.",
            "",
            "| # | framework | note |",
            "|:--|:--|:--|",
            "| 1 | a\\|b | <img src=x onerror=alert(1)> &lt;b&gt; |",
        ]
    )
    out = html.markdown_html(hostile)
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out
    assert "<h3>cpu · &lt;script&gt;alert(1)&lt;/script&gt; — commit abc</h3>" in out
    assert '<p class="sittings">⚠ Measured in 2 sittings: <strong>a</strong> and <code>b</code>.</p>' in out
    assert "<td>a|b</td>" in out and "<th>framework</th>" in out
    assert "&lt;img src=x onerror=alert(1)&gt; &lt;b&gt;" in out


def test_a_passed_verdict_is_the_one_shown(results_dir):
    text = html.render_html([results_dir], plotly_js="", verdict_markdown="**torch** is fastest here.",
                            sittings_note="⚠ Two sittings.")  # fmt: skip
    assert '<div id="verdict-text"><p><strong>torch</strong> is fastest here.</p></div>' in text
    assert '<p id="sittings-note" class="sittings">⚠ Two sittings.</p>' in text


def test_clicking_a_column_header_reorders_rows(loaded):
    driver, _, _ = loaded
    before = column(driver, "examples/s")
    header(driver, "examples/s").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: any(
            th.get_attribute("aria-sort") for th in d.find_elements(By.CSS_SELECTOR, "#cells thead th")
        )
    )
    ascending = column(driver, "examples/s")
    numbers = [float(v.replace(",", "")) for v in ascending]
    assert numbers == sorted(numbers) and ascending != before
    header(driver, "examples/s").click()  # again: descending
    WebDriverWait(driver, WAIT).until(lambda d: column(d, "examples/s") != ascending)
    numbers = [float(v.replace(",", "")) for v in column(driver, "examples/s")]
    assert numbers == sorted(numbers, reverse=True)


def test_the_machine_picker_changes_what_the_chart_shows(loaded):
    driver, _, _ = loaded
    # the page opens on the machine-device with the newest records
    assert Select(driver.find_element(By.ID, "pick-where")).first_selected_option.text == f"cpu · {MACHINE_A}"
    assert sorted(chart_labels(driver)) == [
        "mxnet (hybrid)",
        "torch (compile)",
        "torch (eager)",
        "torch (eager)",
    ]
    Select(driver.find_element(By.ID, "pick-where")).select_by_visible_text(f"cpu · {MACHINE_B}")
    WebDriverWait(driver, WAIT).until(lambda d: "tensorflow (function)" in chart_labels(d))
    assert sorted(chart_labels(driver)) == ["tensorflow (function)", "torch (eager)"]
    assert set(column(driver, "machine-device")) == {f"cpu · {MACHINE_B}"}
    Select(driver.find_element(By.ID, "pick-where")).select_by_visible_text(f"cpu · {MACHINE_A}")
    WebDriverWait(driver, WAIT).until(lambda d: "mxnet (hybrid)" in chart_labels(d))


def test_hovering_a_bar_shows_its_interval_and_n(loaded):
    driver, _, _ = loaded
    bar = driver.find_elements(By.CSS_SELECTOR, "#chart-throughput .point path")[0]
    ActionChains(driver).move_to_element(bar).perform()
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-throughput .hoverlayer .hovertext")
    )
    text = driver.find_element(By.CSS_SELECTOR, "#chart-throughput .hoverlayer .hovertext").text
    assert "96.9% CI, order statistics" in text and "n = 6" in text
