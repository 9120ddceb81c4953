"""End-to-end: damaged stored data is never served as sound, `cairnd check` finds it and names
the files that need it, and a push from a working copy that holds those files repairs it."""

import http.client as http_client
import json
import os

from harness import ONE_CHUNK, CairnTestCase, http, read, sha256, write_random


class StoredFiles(CairnTestCase):
    """A working copy with one large file (a chunk object of its own) and five small ones (one
    pack), pushed."""

    def setUp(self):
        super().setUp()
        self.src = self.path("src")
        os.makedirs(os.path.join(self.src, "docs"))
        write_random(os.path.join(self.src, "big.bin"), ONE_CHUNK, seed=7)  # An object of its own.
        for i in range(5):
            with open(os.path.join(self.src, "docs", f"note{i}.txt"), "w") as f:
                f.write(f"note {i}\n" * 50)  # Small: they travel in one pack.
        self.cairn("init", self.src, "--remote", self.daemon.url + "/p", check=True)
        pushed = self.cairn_json("-C", self.src, "push")
        self.assertEqual(pushed["errors"], [])
        with open(os.path.join(self.src, "big.bin"), "rb") as f:
            self.big = f.read()
        self.big_hash = sha256(self.big)

    def check_json(self, *args, expect_exit):
        r = self.daemon.check("--json", "--max-rate", "unlimited", *args)
        self.assertEqual(r.returncode, expect_exit, r.stdout + r.stderr)
        return json.loads(r.stdout)


class CheckTest(StoredFiles):

    def test_a_clean_store_checks_clean_with_and_without_reading_data(self):
        for args in ([], ["--read-data"], ["--read-data-subset", "50%"]):
            report = self.check_json(*args, expect_exit=0)
            self.assertTrue(report["clean"], report)
            self.assertEqual(report["problems"], [])
            self.assertEqual(report["damaged"], [])
            self.assertGreaterEqual(report["versions"], 6)
        full = self.check_json("--read-data", expect_exit=0)
        self.assertEqual(full["objects_read"], full["objects"])
        self.assertGreaterEqual(full["bytes_read"], len(self.big))
        text = self.daemon.check("--read-data")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("no damage found", text.stdout)

    def test_bad_flags_are_refused_and_change_nothing(self):
        for args in (["--read-data-subset", "0%"], ["--read-data-subset", "150%"],
                     ["--read-data-subset", "lots"], ["--max-rate", "fast"],
                     ["--read-data", "--read-data-subset", "10%"]):
            r = self.daemon.check(*args)
            self.assertIn(r.returncode, (2, 109), f"{args}: {r.stdout}{r.stderr}")

    def test_a_flipped_byte_is_found_named_and_repaired_by_the_next_push(self):
        self.daemon.flip_chunk_byte(self.big_hash, 1234)

        # Without reading data the bytes look fine: the object is there with its size.
        self.assertTrue(self.check_json(expect_exit=0)["clean"])

        report = self.check_json("--read-data", expect_exit=7)
        self.assertFalse(report["clean"])
        (damage,) = report["damaged"]
        self.assertEqual(damage["hash"], self.big_hash)
        (need,) = damage["needed_by"]
        self.assertEqual((need["owner"], need["path"], need["head"]), ("alice", "/p/big.bin", True))
        self.assertEqual(report["copies_set_aside"], 1)
        text = self.daemon.check("--read-data")
        self.assertEqual(text.returncode, 7)
        self.assertIn(self.big_hash, text.stdout)
        self.assertIn("alice:/p/big.bin", text.stdout)

        # A fresh clone cannot have the file: it says so (exit 7) and gets everything else.
        clone = self.path("clone")
        r = self.cairn("clone", self.daemon.url + "/p", clone)
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(os.path.join(clone, "big.bin")))
        self.assertEqual(read(os.path.join(clone, "docs", "note1.txt")), "note 1\n" * 50)

        # The working copy that has the file sends the lost chunk back without being asked.
        r = self.cairn("-C", self.src, "push")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("repaired 1 chunks", r.stdout)
        again = self.cairn_json("-C", self.src, "push")
        self.assertEqual(again["chunks_repaired"], 0)

        self.assertTrue(self.check_json("--read-data", expect_exit=0)["clean"])
        r = self.cairn("-C", clone, "pull")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(clone, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), self.big)

    def test_a_missing_object_is_found_without_reading_data(self):
        self.daemon.delete_chunk(self.big_hash)
        report = self.check_json(expect_exit=7)
        self.assertEqual([d["hash"] for d in report["damaged"]], [self.big_hash])
        r = self.cairn("-C", self.src, "push")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("repaired 1 chunks", r.stdout)
        self.assertTrue(self.check_json("--read-data", expect_exit=0)["clean"])

    def test_a_damaged_chunk_in_a_pack_is_repaired_by_sync_too(self):
        note = b"note 3\n" * 50
        digest = sha256(note)
        literal = self.daemon.blob_literal(digest)
        offset = self.daemon.sql(f"SELECT pack_offset FROM pack_chunks WHERE hash = {literal}")
        stored = self.daemon.sql(f"SELECT stored_size FROM pack_chunks WHERE hash = {literal}")
        pack = self.daemon.sql_hex(f"SELECT pack_hash FROM pack_chunks WHERE hash = {literal}")
        self.daemon.flip_pack_byte(pack, offset + stored // 2)

        report = self.check_json("--read-data", expect_exit=7)
        (damage,) = report["damaged"]
        self.assertEqual(damage["hash"], digest)
        self.assertEqual(damage["needed_by"][0]["path"], "/p/docs/note3.txt")

        r = self.cairn("-C", self.src, "sync")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("repaired 1 chunks", r.stdout)
        self.assertTrue(self.check_json("--read-data", expect_exit=0)["clean"])


class VerifiedReadTest(StoredFiles):
    """Local disk only: the daemon streams chunks itself and verifies them on the way (S3 reads go
    straight to the bucket, and cairnd check covers them)."""

    def test_the_daemon_does_not_serve_a_damaged_chunk_as_sound(self):
        self.daemon.flip_chunk_byte(self.big_hash, len(self.big) - 1)
        try:
            status, body = http("GET", self.daemon.url + "/v1/chunks/" + self.big_hash,
                                token=self.token)
            served_whole = status == 200 and len(body) == len(self.big)
        except http_client.IncompleteRead:
            served_whole = False  # The response ended early, as it must.
        self.assertFalse(served_whole, "a damaged chunk was served as a clean 200")
        # The read set it aside: the server now asks for it, and a push repairs it.
        status, out = http("POST", self.daemon.url + "/v1/chunks/check",
                           json.dumps({"chunks": [{"hash": self.big_hash,
                                                   "len": len(self.big)}]}).encode(), self.token)
        self.assertEqual(status, 200, out)
        self.assertEqual(len(json.loads(out)["missing"]), 1)
        r = self.cairn("-C", self.src, "push")
        self.assertIn("repaired 1 chunks", r.stdout, r.stderr)
        status, body = http("GET", self.daemon.url + "/v1/chunks/" + self.big_hash,
                            token=self.token)
        self.assertEqual((status, body), (200, self.big))

    def test_packed_chunks_are_checked_against_what_was_verified_on_arrival(self):
        # The daemon kept the XXH3 of every packed chunk's stored bytes as it verified them.
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM pack_chunks"), 5)
        self.assertEqual(
            self.daemon.sql("SELECT COUNT(*) FROM pack_chunks WHERE stored_xxh3 IS NULL"), 0)
        # Two damaged chunks in the pack: one checked by that XXH3, one whose row has none (as
        # rows written before it was kept), which a read decodes and hashes. Each read that meets
        # one is refused and sets it aside; the clone locates the rest again, meets the other,
        # and again: both are named, and every other file of the pack arrives.
        damaged = []
        for i, as_before in ((1, False), (3, True)):
            digest = sha256(f"note {i}\n".encode() * 50)
            literal = self.daemon.blob_literal(digest)
            if as_before:
                self.daemon.execute(
                    f"UPDATE pack_chunks SET stored_xxh3 = NULL WHERE hash = {literal}")
            offset = self.daemon.sql(f"SELECT pack_offset FROM pack_chunks WHERE hash = {literal}")
            stored = self.daemon.sql(f"SELECT stored_size FROM pack_chunks WHERE hash = {literal}")
            pack = self.daemon.sql_hex(f"SELECT pack_hash FROM pack_chunks WHERE hash = {literal}")
            self.daemon.flip_pack_byte(pack, offset + stored // 2)
            damaged.append({"hash": digest, "len": 350})

        clone = self.path("clone")
        r = self.cairn("clone", self.daemon.url + "/p", clone, "--json")
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)  # Data failed verification.
        for i in range(5):
            target = os.path.join(clone, "docs", f"note{i}.txt")
            if i in (1, 3):
                self.assertIn(f"note{i}.txt", r.stdout + r.stderr)
                self.assertFalse(os.path.exists(target))
            else:
                self.assertEqual(read(target), f"note {i}\n" * 50, r.stdout + r.stderr)
        # The reads set both copies aside: the server asks for their bytes again.
        status, out = http("POST", self.daemon.url + "/v1/chunks/check",
                           json.dumps({"chunks": damaged}).encode(), self.token)
        self.assertEqual(status, 200, out)
        self.assertEqual(len(json.loads(out)["missing"]), 2)
