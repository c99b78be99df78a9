#!/usr/bin/env python3
"""Renders a Bulkhead HTML audit report in a real headless Chromium (through chromium-driver and selenium) and
checks what a reader sees at 1400 x 1000:

- nothing scrolls sideways: neither the page nor any element inside it;
- the summary, with its worst problems, is inside the first viewport;
- every edge of the report's JSON is in the source x destination matrix, in a cell of its source and destination
  that names its port and verdict;
- the page loads nothing from outside and runs no script.

Usage: check_report.py REPORT.html EDGES.json SCREENSHOT.png
EDGES.json: [{"source": ..., "destination": ..., "protocol": "tcp", "port": 8443, "verdict": ...}, ...]
Prints one line per failed check and exits 1 when any failed; prints "ok ..." and exits 0 otherwise.
"""
import json
import os
import pathlib
import shutil
import sys
import tempfile

os.environ["SE_OFFLINE"] = "true"  # selenium's manager must never look anything up on the network

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def main() -> int:
    report, edges_file, screenshot = sys.argv[1:4]
    edges = json.load(open(edges_file))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                     "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    # Chromium leaves its profile's singleton socket folder (org.chromium.Chromium.XXXXXX) in TMPDIR after every run:
    # give it a folder of its own, removed below.
    scratch = tempfile.mkdtemp(prefix="bulkhead-chromium-")
    os.environ["TMPDIR"] = scratch
    try:
        driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    failures = []
    try:
        driver.set_window_size(1400, 1000)
        driver.get(pathlib.Path(report).resolve().as_uri())
        viewport = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        # The window's outer size includes no chrome in headless mode; make the inner size exactly 1400 x 1000.
        if viewport != [1400, 1000]:
            driver.set_window_size(1400 + 1400 - viewport[0], 1000 + 1000 - viewport[1])
            viewport = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        page_width = driver.execute_script("return document.documentElement.scrollWidth")
        if page_width > viewport[0]:
            failures.append(f"the page scrolls sideways: {page_width} px wide in a {viewport[0]} px window")
        scrolling = driver.execute_script("""
            const wide = [];
            for (const element of document.querySelectorAll('body *')) {
                const style = getComputedStyle(element);
                const box = element.getBoundingClientRect();
                if (element.scrollWidth > element.clientWidth + 1 && ['auto', 'scroll'].includes(style.overflowX)) {
                    wide.push(element.tagName + '.' + element.className + ' scrolls: ' + element.scrollWidth + ' > ' + element.clientWidth);
                }
                if (box.right > window.innerWidth + 1 && box.width > 0) {
                    wide.push(element.tagName + '.' + element.className + ' ends at ' + Math.round(box.right) + ' px');
                }
            }
            return wide.slice(0, 10);
        """)
        failures += scrolling
        summary = driver.execute_script("""
            const s = document.getElementById('summary');
            if (!s) return null;
            const problems = document.querySelectorAll('#top-problems li');
            const last = problems.length ? problems[problems.length - 1].getBoundingClientRect().bottom : s.getBoundingClientRect().bottom;
            return [s.getBoundingClientRect().top, s.getBoundingClientRect().bottom, problems.length, last];
        """)
        if summary is None:
            failures.append("no #summary section")
        else:
            top, bottom, problems, last = summary
            if bottom > viewport[1] or last > viewport[1]:
                failures.append(f"the summary ends at {bottom:.0f} px (its last problem at {last:.0f} px), below the first {viewport[1]} px")
        cells = driver.execute_script("""
            return Array.from(document.querySelectorAll('.matrix td[data-edges]')).map(td =>
                [td.dataset.source, td.dataset.destination, td.dataset.edges]);
        """)
        matrix = {}
        for source, destination, words in cells:
            matrix[(source, destination)] = set(words.split(" "))
        missing = []
        for edge in edges:
            word = f"{edge['protocol']}/{edge['port']}:{edge['verdict']}"
            if word not in matrix.get((edge["source"], edge["destination"]), set()):
                missing.append(f"{edge['source']} -> {edge['destination']} {word}")
        if missing:
            failures.append(f"{len(missing)} of {len(edges)} edges missing from the matrix, e.g. {missing[:3]}")
        outside = driver.execute_script("""
            return Array.from(document.querySelectorAll('script, link[href], img[src], iframe, object, embed'))
                .map(e => e.outerHTML.slice(0, 80));
        """)
        if outside:
            failures.append(f"the page loads or runs something: {outside[:3]}")
        driver.save_screenshot(screenshot)
    finally:
        driver.quit()
        shutil.rmtree(scratch, ignore_errors=True)
    for failure in failures:
        print(failure)
    if failures:
        return 1
    print(f"ok: {len(edges)} edges in {len(matrix)} matrix cells, summary inside the first viewport, nothing scrolls sideways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
