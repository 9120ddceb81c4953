"""How fast the web page uploads, by hand (not part of ctest): a real cairnd (SQLite, local
disk), headless Chromium, one file of SIZE MiB (default 200) chosen with the folder page's
upload button, then the same bytes under another name (nothing to send: chunking, hashing and
one check). Prints the wall time of each, from the choice to the page listing the file.

    cd tests/e2e && CAIRN_BIN_DIR=../../build/bin python3 bench_web.py [SIZE]
"""
import os
import shutil
import sys
import tempfile
import time

from browser import Browser
from harness import Backends, Daemon, write_random


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    tmp = tempfile.mkdtemp(prefix="cairn-bench-web-")
    daemon = Daemon(os.path.join(tmp, "data"), Backends())
    daemon.init()
    token = daemon.add_user("alice")
    daemon.start()
    try:
        base = daemon.url.rstrip("/")
        first = os.path.join(tmp, "first.bin")
        write_random(first, mib << 20, seed=4)
        again = os.path.join(tmp, "again.bin")
        shutil.copy(first, again)
        with Browser() as b:
            b.get(base + "/web/signin")
            b.find("#token").type(token)
            b.find("#signin").click()
            b.wait_for_url("/web/files/")
            for label, path in (("upload", first), ("same bytes again", again)):
                name = os.path.basename(path)
                started = time.monotonic()
                b.find("#upload-files").type(path)
                b.wait(lambda: b.find_all('tr[data-name="%s"]' % name) and
                       not b.find_all("ul.uploads li"), "the file listed", timeout=1800)
                took = time.monotonic() - started
                print(f"{label}: {mib} MiB in {took:.1f} s ({mib / took:.0f} MiB/s)")
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
