#!/usr/bin/env python3
"""Copies the shared replay code (between the BEGIN/END FUZZ TARGETS markers) from fuzz/harness.swift into
Tests/PacketAnalysisTests/FuzzRegressionTests.swift. Run it after changing the harness; the test
"the replay code is the harness's code" fails until you do."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = os.path.join(ROOT, "fuzz", "harness.swift")
TEST = os.path.join(ROOT, "Tests", "PacketAnalysisTests", "FuzzRegressionTests.swift")
REGION = re.compile(r"^// BEGIN FUZZ TARGETS.*?^// END FUZZ TARGETS\n", re.S | re.M)


def main():
    harness = open(HARNESS).read()
    test = open(TEST).read()
    source = REGION.search(harness)
    if not source or not REGION.search(test):
        sys.exit("markers missing")
    updated = REGION.sub(lambda _: source.group(0), test, count=1)
    if updated != test:
        open(TEST, "w").write(updated)
        print("updated", os.path.relpath(TEST, ROOT))
    else:
        print("already in step")


if __name__ == "__main__":
    main()
