"""Screenshots of every page of `kg serve` at 1400 px and 500 px wide, with headless Chromium (Debian's chromium +
chromium-driver) reaching nothing but loopback, to look at them (and to see that they reflow):

    python scripts/web_screenshots.py http://127.0.0.1:8765 OUT_DIR QID DOC_ID [REPORT [REPORT_B]]

writes OUT_DIR/{page}-{width}.png, each the whole page (up to 4000 px tall): home, the "Link a text" page with
a text linked, search, an entity card, documents, a document with a mention's tooltip, /docs; with REPORT
(a file name `kg serve --report` loaded) the runs table, the report, its first annotated article; with REPORT_B
too, the two compared. Not a test (tests/test_serve.py runs it once)."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

WIDTHS = (1400, 500)
MAX_HEIGHT = 4000
LINK_TEXT = "Barack Obama was born in Honolulu and later visited Paris, France."


def pages(qid: str, doc_id: str, report: str | None, report_b: str | None) -> list[tuple[str, str]]:
    out = [("home", "/ui"), ("link", "/ui/link"), ("search", "/ui/search?q=obama"),
           ("entity", f"/ui/entities/{quote(qid)}"), ("documents", "/ui/documents"),
           ("document", f"/ui/documents/{quote(doc_id)}?explain=1"), ("api-docs", "/docs")]
    if report:
        out += [("reports", "/ui/reports"), ("report", f"/ui/reports/{quote(report)}"),
                ("report-article", "")]  # the report page's first article link
    if report and report_b:
        out.append(("report-compare", f"/ui/reports/compare?a={quote(report)}&b={quote(report_b)}"))
    return out


def viewport(driver: webdriver.Chrome, width: int, height: int) -> None:
    """The page's own width and height in CSS pixels, whatever the headless window's size."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def shoot(driver: webdriver.Chrome, base: str, out: Path, name: str, path: str, width: int) -> Path:
    viewport(driver, width, 900)
    if name == "report-article":
        driver.get(driver.find_element(By.CSS_SELECTOR, "a.article-link").get_attribute("href") or "")
    else:
        driver.get(base + path)
    if name == "link":  # a text linked, as a person would do it
        driver.find_element(By.ID, "link-text").send_keys(LINK_TEXT)
        driver.find_element(By.ID, "link-submit").click()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    viewport(driver, width, min(max(int(height), 600), MAX_HEIGHT))
    if name == "document":  # the tooltip of the first linked mention
        ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, ".mention.linked")).perform()
    file = out / f"{name}-{width}.png"
    driver.save_screenshot(str(file))
    return file


def main(base: str, out: Path, qid: str, doc_id: str, report: str | None = None,
         report_b: str | None = None) -> list[Path]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for width in WIDTHS:
            for name, path in pages(qid, doc_id, report, report_b):
                written.append(shoot(driver, base, out, name, path, width))
                print(written[-1])
    finally:
        driver.quit()
    return written


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4], *sys.argv[5:7])
