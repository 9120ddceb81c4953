"""End-to-end: broken networks (issue 20).

NetworkChaosTest: every connection goes through a ChaosProxy (harness.py) that cuts it after a
random number of bytes in one direction (inside the headers, mid-body, deep in a large transfer)
or stalls it: between the client and the daemon, and on PostgreSQL + S3 also between the daemon
and each of its backends (the client's pre-signed S3 transfers included). Pushes and pulls are
run again until they succeed, as a person or a cron job would. Checked: every attempt ends
cleanly (success, "error" or "server unreachable"; never a crash or "corrupt"), no file is ever
half-visible on either side, nothing is committed twice (each file has exactly one version per
content it was pushed with), the copies converge, and `cairnd check --read-data` is clean.

ReplayTest: the network delivers a client's requests again, late and out of order, as a request
that sat in a stalled connection while the client retried does. Every request of every push is
sent to the daemon again, twice at once and later after other pushes. Checked: no replay earns a
server error or changes anything (no second version, no conflicted copy, no deleted file back,
no renamed file moved back), and check is clean.
"""

import json
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import unittest
import urllib.parse

from harness import CAIRN, Backends, ChaosProxy, Daemon, run, tree_snapshot, write_random

ATTEMPTS = 40
STATUS_LINE = re.compile(rb"(?:^|\r\n)HTTP/1\.1 (\d{3}) ")


def files_of(root):
    return {rel: entry for rel, entry in tree_snapshot(root).items() if entry[0] == "file"}


class NetworkTestCase(unittest.TestCase):
    """A daemon (on the configured backends) that the client reaches through a ChaosProxy."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cairn-e2e-net-")
        if os.environ.get("CAIRN_KEEP_TMP") is None:
            self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.proxies = []
        self.daemon = Daemon(os.path.join(self.tmp, "data"), self.backends())
        self.daemon.init()
        self.token = self.daemon.add_user("alice")
        self.daemon.start()
        self.addCleanup(self.daemon.stop)
        port = urllib.parse.urlsplit(self.daemon.url).port
        self.front = self.proxy("127.0.0.1", port, seed=1, **self.front_faults)
        self.url = f"http://127.0.0.1:{self.front.port}"
        self.env = dict(os.environ, CAIRN_TOKEN=self.token, CAIRN_DEVICE="net",
                        CAIRN_CONFIG=os.path.join(self.tmp, "config"), CAIRN_SERVER=self.url)
        self.attempts = 0

    front_faults = {"cut": 0, "stall": 0}

    def backends(self):
        return Backends()

    def proxy(self, host, port, **kwargs):
        p = ChaosProxy(host, port, **kwargs)
        self.proxies.append(p)
        self.addCleanup(p.close)
        return p

    def versions(self, rel):
        history = run([CAIRN, "history", "/net/" + rel, "--json"], env=self.env, check=True)
        return json.loads(history.stdout)["versions"]

    def assert_check_clean(self):
        check = self.daemon.check("--read-data")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


class NetworkChaosTest(NetworkTestCase):

    # CAIRN_CHAOS_STALL_SECONDS=75, by hand: stalls past the client's 60 s low-speed limit.
    STALL = float(os.environ.get("CAIRN_CHAOS_STALL_SECONDS", "1.5"))
    front_faults = {"cut": 0.5, "stall": 0.1, "stall_seconds": STALL}

    def backends(self):
        backends = Backends()
        if backends.postgres is not None:
            # The daemon reaches its database and its bucket through proxies of their own.
            pg = urllib.parse.urlsplit(backends.metadata_url)
            db = self.proxy(pg.hostname, pg.port, seed=2, cut=0.15, stall=0.05,
                            stall_seconds=self.STALL)
            backends.metadata_url = pg._replace(
                netloc=pg.netloc.replace(f"{pg.hostname}:{pg.port}", f"127.0.0.1:{db.port}"))\
                .geturl()
            s3 = urllib.parse.urlsplit(backends.bucket.endpoint)
            bucket = self.proxy(s3.hostname, s3.port, seed=3, cut=0.2, stall=0.05,
                                stall_seconds=self.STALL)
            backends.blobs_url = backends.blobs_url.replace(
                urllib.parse.quote(backends.bucket.endpoint, safe=""),
                urllib.parse.quote(f"http://127.0.0.1:{bucket.port}", safe="")).replace(
                backends.bucket.endpoint, f"http://127.0.0.1:{bucket.port}")
        return backends

    def chaos(self, on):
        for p in self.proxies:
            p.on = on

    def until_done(self, *args, check_between=None):
        """Runs cairn `args` until it exits 0; every failed attempt must be a clean one."""
        for _ in range(ATTEMPTS):
            self.attempts += 1
            result = run([CAIRN, *args], env=self.env, timeout=300)
            if result.returncode == 0:
                return result
            self.assertIn(result.returncode, (1, 4), f"cairn {args}: {result.returncode}\n"
                          f"{result.stdout}\n{result.stderr}")
            if check_between is not None:
                check_between()
        self.fail(f"cairn {args} did not succeed in {ATTEMPTS} attempts")

    def test_pushes_and_pulls_through_a_breaking_network_complete_and_commit_once(self):
        rng = random.Random(11)
        wc = os.path.join(self.tmp, "wc")
        for i in range(30):
            write_random(os.path.join(wc, f"d{i % 3}", f"f{i}.bin"), rng.randint(1, 400 << 10),
                         100 + i)
        run([CAIRN, "init", wc, "--remote", self.url + "/net"], env=self.env, check=True)
        pushed_contents = {}  # rel -> distinct contents pushed, in order

        def remember():
            for rel, entry in files_of(wc).items():
                seen = pushed_contents.setdefault(rel, [])
                if not seen or seen[-1] != entry[1]:
                    seen.append(entry[1])

        self.chaos(True)
        for round_ in range(4):
            names = sorted(files_of(wc))
            for rel in rng.sample(names, 5):
                write_random(os.path.join(wc, rel), rng.randint(1, 400 << 10), rng.random())
            for k in range(2):
                write_random(os.path.join(wc, f"d{k}", f"new{round_}-{k}.bin"),
                             rng.randint(1, 200 << 10), rng.random())
            os.remove(os.path.join(wc, rng.choice(names)))
            self.until_done("-C", wc, "push", "--json")
            remember()

        clone = os.path.join(self.tmp, "clone")

        def no_partial_file():
            for rel, entry in files_of(clone).items():
                self.assertEqual(entry, files_of(wc).get(rel), f"clone holds a partial {rel}")

        first = run([CAIRN, "clone", self.url + "/net", clone], env=self.env, timeout=300)
        self.attempts += 1
        self.assertIn(first.returncode, (0, 1, 4), first.stdout + first.stderr)
        if not os.path.isdir(os.path.join(clone, ".cairn")):
            self.until_done("clone", self.url + "/net", clone)
        no_partial_file()
        self.until_done("-C", clone, "pull", check_between=no_partial_file)
        self.chaos(False)

        self.assertEqual(files_of(clone), files_of(wc))
        # Nothing was committed twice: one version per content each file was pushed with.
        for rel, contents in pushed_contents.items():
            if not os.path.exists(os.path.join(wc, rel)):
                continue
            self.assertEqual(len(self.versions(rel)), len(contents), rel)
        # Faults really happened (most are absorbed by the client's own retries of a request).
        # A planned cut happens only if its connection carries that many bytes, which depends
        # on timing (keep-alive): a CI run saw 5 of 69 connections cut, so the floor is 3.
        cut = sum(p.counts["cut"] for p in self.proxies)
        self.assertGreaterEqual(cut, 3, [p.counts for p in self.proxies])
        print(f"\n  {self.attempts} attempts; proxies: {[p.counts for p in self.proxies]}",
              file=sys.stderr)
        self.assert_check_clean()


class ReplayTest(NetworkTestCase):

    def replay(self, tape):
        """Sends a recorded connection's bytes to the daemon again on a new connection; returns
        the status of each answer."""
        port = urllib.parse.urlsplit(self.daemon.url).port
        with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
            conn.sendall(bytes(tape))
            conn.shutdown(socket.SHUT_WR)
            answers = bytearray()
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                answers.extend(data)
        return [int(code) for code in STATUS_LINE.findall(bytes(answers))]

    def test_requests_delivered_again_late_and_out_of_order_change_nothing(self):
        rng = random.Random(5)
        wc = os.path.join(self.tmp, "wc")
        for i in range(16):
            write_random(os.path.join(wc, f"d{i % 2}", f"f{i}.bin"), rng.randint(1, 300 << 10), i)
        write_random(os.path.join(wc, "again.bin"), 1000, 76)
        run([CAIRN, "init", wc, "--remote", self.url + "/net"], env=self.env, check=True)
        contents = {}  # rel -> the contents pushed at that path's node, in order
        tapes = []  # per push, the connections it made
        statuses = []

        def push():
            self.front.recording = []
            result = run([CAIRN, "-C", wc, "push", "--json"], env=self.env, timeout=300)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            tapes.append(self.front.recording)
            self.front.recording = None
            for rel, entry in files_of(wc).items():
                seen = contents.setdefault(rel, [])
                if not seen or seen[-1] != entry[1]:
                    seen.append(entry[1])

        push()
        for round_ in range(5):
            names = sorted(rel for rel in files_of(wc) if rel != "again.bin")
            picked = rng.sample(names, 5)
            for rel in picked[:2]:  # Edits.
                write_random(os.path.join(wc, rel), rng.randint(1, 300 << 10), rng.random())
            os.remove(os.path.join(wc, picked[2]))  # A delete.
            contents.pop(picked[2])
            renamed = f"d{round_ % 2}/renamed{round_}.bin"  # A rename: the history follows it.
            os.rename(os.path.join(wc, picked[3]), os.path.join(wc, renamed))
            contents[renamed] = contents.pop(picked[3])
            write_random(os.path.join(wc, f"new{round_}.bin"), rng.randint(1, 100 << 10),
                         rng.random())  # A new file.
            with open(os.path.join(wc, picked[4]), "ab") as f:  # A small append.
                f.write(b"more")
            push()
            # This push's requests again, twice, then those of an earlier one: late and reordered.
            for tape in tapes[-1] * 2 + rng.choice(tapes[:-1]):
                statuses += self.replay(tape)
            if round_ == 2:
                # A file deleted and made again at the same path: not a repeat of its creation.
                os.remove(os.path.join(wc, "again.bin"))
                push()
                # The same name comes back as the same node: its history goes on.
                write_random(os.path.join(wc, "again.bin"), 1000, 77)
                push()
        for tape in [t for push_tapes in reversed(tapes) for t in push_tapes]:
            statuses += self.replay(tape)

        self.assertGreater(len(statuses), 50)
        self.assertFalse([s for s in statuses if s >= 500], statuses)
        before = files_of(wc)
        run([CAIRN, "-C", wc, "pull"], env=self.env, check=True)
        self.assertEqual(files_of(wc), before)  # Nothing came back, moved or was copied.
        clone = os.path.join(self.tmp, "clone")
        run([CAIRN, "clone", self.url + "/net", clone], env=self.env, check=True)
        self.assertEqual(files_of(clone), before)
        for rel, seen in contents.items():
            self.assertEqual(len(self.versions(rel)), len(seen), rel)
        self.assert_check_clean()


if __name__ == "__main__":
    unittest.main()
