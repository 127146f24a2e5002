"""Screenshots of `kg serve`'s pages with headless Chromium (Debian's chromium + chromium-driver), to look at
them: python scripts/web_screenshots.py http://127.0.0.1:8765 OUT_DIR QID DOC_ID [REPORT]. Not a test."""

from __future__ import annotations

import sys
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By


def main(base: str, out: Path, qid: str, doc_id: str, report: str | None = None) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    out.mkdir(parents=True, exist_ok=True)
    try:
        pages = [("home", "/ui"), ("search", "/ui/search?q=obama"), ("entity", f"/ui/entities/{qid}"),
                 ("documents", "/ui/documents"), ("document", f"/ui/documents/{doc_id}?explain=1")]
        if report:
            pages.append(("report", f"/ui/reports/{report}"))
        for name, path in pages:
            driver.get(base + path)
            if name == "document":  # the tooltip of the first linked mention
                ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, ".mention.linked")).perform()
            driver.save_screenshot(str(out / f"{name}.png"))
            print(out / f"{name}.png")
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4], *sys.argv[5:6])
