"""End-to-end: cairnd gc deletes garbage and rewrites mostly dead packs while pushes run, and
every pushed file stays intact."""

import concurrent.futures
import hashlib
import json
import os
import random
import re
import threading

from harness import CairnTestCase, http, tree_snapshot

GC_LINE = re.compile(r"and (\d+) unreferenced chunks .* rewrote (\d+) packs into (\d+) .* "
                     r"deleted (\d+) packs")


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_pack(chunks):
    """A pack (docs/formats.md) of raw chunks, and its entries as /v1/packs/confirm takes them."""
    header = b"CRNP" + bytes([1]) + os.urandom(16) + uvarint(len(chunks))
    for c in chunks:
        header += hashlib.sha256(c).digest() + b"\x00" + uvarint(len(c)) + uvarint(len(c))
    entries, offset = [], len(header)
    for c in chunks:
        entries.append({"hash": hashlib.sha256(c).hexdigest(), "len": len(c), "stored": len(c),
                        "codec": "raw", "offset": offset})
        offset += len(c)
    return header + b"".join(chunks), entries


class GcTest(CairnTestCase):

    def upload_pack(self, chunks):
        """Uploads a pack through the API as a client would, without committing anything."""
        body, entries = encode_pack(chunks)
        digest = hashlib.sha256(body).hexdigest()
        status, grant = http("POST", self.daemon.url + "/v1/packs",
                             json.dumps({"pack": digest, "size": len(body)}).encode(), self.token)
        self.assertEqual(status, 200, grant)
        grant = json.loads(grant)
        url = grant["url"]
        headers = dict(grant.get("headers", {}))
        headers["Content-Type"] = "application/octet-stream"
        if url.startswith("/"):
            status, out = http("PUT", self.daemon.url + url, body, headers=headers)
            self.assertEqual(status, 201, out)
            return
        status, out = http("PUT", url, body, headers=headers)
        self.assertEqual(status, 200, out)
        status, out = http("POST", self.daemon.url + "/v1/packs/confirm",
                           json.dumps({"pack": digest, "size": len(body),
                                       "entries": entries}).encode(), self.token)
        self.assertEqual(status, 200, out)

    def gc_counts(self, result):
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        match = GC_LINE.search(result.stdout)
        self.assertIsNotNone(match, result.stdout)
        return [int(g) for g in match.groups()]

    def test_gc_during_concurrent_pushes_keeps_every_file(self):
        rng = random.Random(7)
        # Garbage from the past: a pack whose chunks a working copy will use, bundled with four
        # times as many that nothing ever references.
        base = self.path("wc0")
        live = {}
        for i in range(40):
            live[f"kept/{i}.bin"] = rng.randbytes(rng.randint(100, 3000))
        garbage = [rng.randbytes(rng.randint(2000, 6000)) for _ in range(160)]
        self.upload_pack(list(live.values()) + garbage)
        self.daemon.execute("UPDATE packs SET created_at = created_at - 100000")
        for rel, data in live.items():
            os.makedirs(os.path.join(base, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(base, rel), "wb") as f:
                f.write(data)
        self.cairn("init", base, "--remote", self.daemon.url + "/w0", check=True)
        first = self.cairn_json("-C", base, "push")
        self.assertEqual(first["chunks_sent"], 0)  # Everything was in the old pack already.

        # gc in a loop while ten working copies push six times each. A short pause between runs
        # leaves the pushes some CPU on a small machine; each run still overlaps many pushes.
        stop = threading.Event()
        runs = []

        def gc_loop():
            while not stop.is_set():
                runs.append(self.daemon.gc("--grace", "600"))
                stop.wait(0.3)

        copies = [self.path(f"wc{n}") for n in range(1, 11)]

        def pushes(n):
            wc = copies[n]
            r = random.Random(n)
            os.makedirs(wc)
            self.cairn("init", wc, "--remote", self.daemon.url + f"/w{n + 1}", check=True)
            for round_ in range(6):
                for k in range(5):
                    with open(os.path.join(wc, f"r{round_}-{k}.bin"), "wb") as f:
                        f.write(r.randbytes(r.randint(1, 40000)))
                with open(os.path.join(wc, "r0-0.bin"), "ab") as f:
                    f.write(r.randbytes(100))
                result = self.cairn("-C", wc, "push", "--json")
                assert result.returncode == 0, result.stdout + result.stderr
            return n

        collector = threading.Thread(target=gc_loop)
        collector.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                self.assertEqual(sorted(pool.map(pushes, range(10))), list(range(10)))
        finally:
            stop.set()
            collector.join()
        runs.append(self.daemon.gc("--grace", "600"))
        totals = [0, 0, 0, 0]
        for result in runs:
            totals = [a + b for a, b in zip(totals, self.gc_counts(result))]
        self.assertGreaterEqual(len(runs), 2)
        self.assertEqual(totals[0], len(garbage))  # Exactly the garbage, once.
        self.assertEqual(totals[1], 1)  # The old pack, rewritten around its 40 live chunks.

        def check_all():
            for n, wc in enumerate([base] + copies):
                clone = self.path(f"clone-{n}-{len(os.listdir(self.tmp))}")
                out = self.cairn_json("clone", self.daemon.url + f"/w{n}", clone)
                self.assertEqual(out["errors"], [])
                self.assertEqual(tree_snapshot(wc), tree_snapshot(clone), wc)

        check_all()
        # With the pushes over, a gc without grace deletes the retired pack and merges the small
        # packs the pushes left (one per push) into full ones; nothing breaks.
        packs_before = len(self.daemon.stored_packs())
        _, rewritten, written, deleted = self.gc_counts(self.daemon.gc("--grace", "0"))
        self.assertGreaterEqual(deleted, 1)
        self.assertGreater(rewritten, written)
        self.assertEqual(len(self.daemon.stored_packs()), packs_before - deleted + written)
        check_all()
        # A second run with nothing new to collect rewrites nothing (it deletes what the first
        # one retired).
        _, rewritten, written, _ = self.gc_counts(self.daemon.gc("--grace", "0"))
        self.assertEqual((rewritten, written), (0, 0))
        check_all()
