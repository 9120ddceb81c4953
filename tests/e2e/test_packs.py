"""End-to-end: chunks travel and rest compressed in packs (small ones always, large ones when they
compress), large incompressible ones stay objects of their own, and damage to a pack is caught."""

import hashlib
import os
import random

from harness import CairnTestCase, tree_snapshot, write_random


def make_small_files(root, count, seed):
    """Small files, three in four of them text that compresses, the rest random bytes."""
    rng = random.Random(seed)
    words = ["cairn", "chunk", "pack", "stone", "trail", "summit", "ridge", "valley"]
    contents = {}
    for i in range(count):
        rel = os.path.join(f"d{i % 13}", f"f{i}.txt")
        if i % 4 == 3:
            data = rng.randbytes(rng.randint(1, 20000))
        else:
            data = " ".join(rng.choice(words) + str(rng.randint(0, 99))
                            for _ in range(rng.randint(1, 3000))).encode()
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        contents[rel] = data
    return contents


def write_log(path, size, seed):
    """A text file like a build or server log: lines that never repeat whole but share words, so
    zstd shrinks it to about a third; cut into several large chunks."""
    rng = random.Random(seed)
    levels = ["INFO", "WARN", "DEBUG", "ERROR"]
    words = ["request", "served", "chunk", "commit", "user", "token", "folder", "latency",
             "bytes", "retry", "upload", "pack", "verified", "cache", "miss", "hit"]
    out = bytearray()
    n = 0
    while len(out) < size:
        n += 1
        line = (f"2026-12-04T06:{n // 60 % 60:02d}:{n % 60:02d}.{rng.randrange(1000):03d}Z "
                f"{rng.choice(levels)} [{rng.randrange(64)}] " +
                " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) +
                f" id={rng.getrandbits(32):08x} took {rng.randrange(5000)}us\n")
        out += line.encode()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(bytes(out[:size]))


class LargeChunkTest(CairnTestCase):
    """Issue 18: large chunks are compressed too when that pays, on both blob backends."""

    def stored_large_chunk_objects(self):
        if self.daemon.backends.bucket is not None:
            return len(self.daemon.backends.bucket.keys("chunks/"))
        return self.daemon.stored_chunk_files()

    def test_compressible_large_chunks_travel_and_rest_compressed(self):
        src = self.path("src")
        write_log(os.path.join(src, "logs", "server.log"), 12 << 20, seed=1)
        write_random(os.path.join(src, "media", "video.bin"), 6 << 20, seed=2)
        # Zeros have no chunk boundary: chunks of exactly the 4 MiB maximum, whose decoded bytes
        # fill the verifier's window exactly (a case the daemon once refused as truncated).
        with open(os.path.join(src, "disk.img"), "wb") as f:
            f.write(bytes(10 << 20))
        self.cairn("init", src, "--remote", self.daemon.url + "/l", check=True)
        pushed = self.cairn_json("-C", src, "push")
        self.assertEqual(pushed["errors"], [])
        self.assertEqual(pushed["bytes_sent"], (18 << 20) + (6 << 20))  # Zeros: 4 + 2 MiB.
        # The log crossed the wire compressed (to well under half), the random file raw.
        self.assertLess(pushed["bytes_uploaded"], (6 << 20) + (12 << 20) // 2)
        self.assertGreater(pushed["bytes_uploaded"], 6 << 20)
        self.assertGreaterEqual(pushed["packs_sent"], 1)
        # At rest: the log's large chunks are zstd entries of packs; the random file's chunks
        # are objects of their own, exactly as large as the chunks.
        large_packed = self.daemon.sql(
            "SELECT COUNT(*) FROM pack_chunks WHERE size >= 262144 AND codec = 1")
        self.assertGreaterEqual(large_packed, 3)
        self.assertEqual(self.daemon.sql(
            "SELECT COALESCE(SUM(stored_size), 0) FROM pack_chunks WHERE size >= 262144") * 2 <
            self.daemon.sql("SELECT SUM(size) FROM pack_chunks WHERE size >= 262144"), True)
        raw_objects = self.stored_large_chunk_objects()
        self.assertGreaterEqual(raw_objects, 1)
        self.assertEqual(raw_objects + large_packed, pushed["chunks_sent"])
        if self.daemon.backends.bucket is None:
            on_disk = sum(os.path.getsize(os.path.join(d, f))
                          for d, _, fs in os.walk(os.path.join(self.daemon.data_dir, "blobs"))
                          for f in fs)
            self.assertLess(on_disk, (6 << 20) + (12 << 20) // 2)

        clone = self.path("clone")
        cloned = self.cairn_json("clone", self.daemon.url + "/l", clone)
        self.assertEqual(cloned["errors"], [])
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))

        # An append to the log sends its last chunk or two again, compressed.
        with open(os.path.join(src, "logs", "server.log"), "ab") as f:
            f.write(b"2026-12-04T07:00:00.000Z INFO one more line\n" * 1000)
        again = self.cairn_json("-C", src, "push")
        self.assertLessEqual(again["chunks_sent"], 3)
        self.assertLess(again["bytes_uploaded"], again["bytes_sent"])
        self.assertEqual(self.cairn_json("-C", clone, "pull")["files_changed"], 1)
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))

    def test_a_damaged_compressed_large_chunk_is_named_on_read(self):
        src = self.path("src")
        write_log(os.path.join(src, "app.log"), 3 << 20, seed=3)
        write_log(os.path.join(src, "other.log"), 100 << 10, seed=4)
        self.cairn("init", src, "--remote", self.daemon.url + "/l", check=True)
        self.assertEqual(self.cairn_json("-C", src, "push")["errors"], [])
        hex_hash = self.daemon.sql_hex(
            "SELECT hash FROM pack_chunks WHERE size >= 262144 ORDER BY pack_offset LIMIT 1")
        literal = self.daemon.blob_literal(hex_hash)
        offset = self.daemon.sql(f"SELECT pack_offset FROM pack_chunks WHERE hash = {literal}")
        stored = self.daemon.sql(f"SELECT stored_size FROM pack_chunks WHERE hash = {literal}")
        pack = self.daemon.sql_hex(f"SELECT pack_hash FROM pack_chunks WHERE hash = {literal}")
        self.daemon.flip_pack_byte(pack, offset + stored // 2)

        clone = self.path("clone")
        result = self.cairn("clone", self.daemon.url + "/l", clone, "--json")
        self.assertEqual(result.returncode, 7, result.stderr)  # Data failed verification.
        self.assertIn("app.log", result.stdout + result.stderr)
        self.assertFalse(os.path.exists(os.path.join(clone, "app.log")))
        with open(os.path.join(clone, "other.log"), "rb") as f, \
                open(os.path.join(src, "other.log"), "rb") as g:
            self.assertEqual(f.read(), g.read())
        # The store's own check names the chunk too.
        checked = self.daemon.check("--read-data")
        self.assertNotEqual(checked.returncode, 0, checked.stdout)
        self.assertIn(hex_hash[:12], checked.stdout + checked.stderr)

    def test_a_store_written_before_reads_and_accepts_pushes(self):
        # Before issue 18 every chunk of at least pack_chunk_limit was stored raw, as an object
        # of its own. A server advertising no packs makes today's client store exactly that.
        self.daemon.stop()
        self.daemon.execute("UPDATE settings SET value = '0' WHERE key = 'pack_chunk_limit'")
        self.daemon.start()
        src = self.path("src")
        write_log(os.path.join(src, "old.log"), 4 << 20, seed=5)
        self.cairn("init", src, "--remote", self.daemon.url + "/l", check=True)
        first = self.cairn_json("-C", src, "push")
        self.assertEqual(first["packs_sent"], 0)
        self.assertEqual(first["bytes_uploaded"], 4 << 20)
        old_objects = self.stored_large_chunk_objects()
        self.assertEqual(old_objects, first["chunks_sent"])

        # The new format switched on: the old raw objects still read, dedupe and take pushes.
        self.daemon.stop()
        self.daemon.execute(
            "UPDATE settings SET value = '262144' WHERE key = 'pack_chunk_limit'")
        self.daemon.start()
        env = dict(self.env, CAIRN_SERVER=self.daemon.url)  # The daemon's new port.
        clone = self.path("clone")
        self.cairn_json("clone", self.daemon.url + "/l", clone)
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))
        write_log(os.path.join(src, "new.log"), 4 << 20, seed=6)
        with open(os.path.join(src, "old.log"), "ab") as f:
            f.write(b"appended after the upgrade\n" * 100)
        second = self.cairn_json("-C", src, "push", env=env)
        self.assertEqual(second["errors"], [])
        self.assertGreaterEqual(second["packs_sent"], 1)
        self.assertLess(second["bytes_uploaded"], second["bytes_sent"] // 2)
        self.assertEqual(self.stored_large_chunk_objects(), old_objects)  # Nothing new raw.
        self.assertEqual(self.cairn_json("-C", clone, "pull", env=env)["files_changed"], 2)
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))
        self.assertEqual(self.daemon.check("--read-data").returncode, 0)


class PackTest(CairnTestCase):

    def test_a_clone_larger_than_a_download_window_fetches_each_chunk_once(self):
        # The client downloads a few thousand files at a time (pull.cpp, kDownloadWindow):
        # 4,800 files span two windows. 400 of them, pushed last (so in the last window), repeat
        # files of the first push: their chunks come from the copies already written, within a
        # window or from an earlier one, never over the wire again.
        src = self.path("src")
        rng = random.Random(11)
        contents = {}

        def write(files):
            for rel, data in files.items():
                os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
                with open(os.path.join(src, rel), "wb") as f:
                    f.write(data)
            contents.update(files)

        write({f"a{i % 40}/f{i}.txt": f"file {i} ".encode() * rng.randint(1, 40)
               for i in range(4400)})
        self.cairn("init", src, "--remote", self.daemon.url + "/w", check=True)
        self.assertEqual(self.cairn_json("-C", src, "push")["errors"], [])
        write({f"zz/copy{i}.txt": contents[f"a{i % 40}/f{i}.txt"] for i in range(400)})
        self.assertEqual(self.cairn_json("-C", src, "push")["errors"], [])
        distinct = len({hashlib.sha256(d).digest() for d in contents.values()})
        self.assertEqual(distinct, 4400)

        clone = self.path("clone")
        cloned = self.cairn_json("clone", self.daemon.url + "/w", clone)
        self.assertEqual(cloned["errors"], [])
        self.assertEqual(cloned["files_changed"], 4800)
        self.assertEqual(cloned["chunks_received"], distinct)
        self.assertGreater(cloned["chunks_reused"], 0)  # Copied from the first window's files.
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))
        # Every window's files were recorded as the server has them: nothing to push or pull.
        status = self.cairn_json("-C", clone, "status")
        self.assertTrue(status["in_sync"], status)
        self.assertEqual(self.cairn_json("-C", clone, "pull")["files_changed"], 0)

    def test_small_files_travel_in_compressed_packs(self):
        src = self.path("src")
        contents = make_small_files(src, 600, seed=3)
        distinct = len({hashlib.sha256(d).digest() for d in contents.values()})
        self.cairn("init", src, "--remote", self.daemon.url + "/p", check=True)
        pushed = self.cairn_json("-C", src, "push")
        self.assertEqual(pushed["errors"], [])
        self.assertEqual(pushed["files_changed"], 600)
        self.assertEqual(pushed["chunks_sent"], distinct)
        # One pack (a push fills one pack at a time), not 600 objects.
        self.assertEqual(pushed["packs_sent"], 1)
        self.assertEqual(len(self.daemon.stored_packs()), pushed["packs_sent"])
        if self.daemon.backends.bucket is not None:
            self.assertEqual(self.daemon.backends.bucket.keys("chunks/"), [])
            self.assertEqual(self.daemon.backends.bucket.keys("incoming/"), [])  # All adopted.
        else:
            self.assertEqual(self.daemon.stored_chunk_files(), 0)
        # Text compresses: what crossed the wire is well under the bytes of the files.
        self.assertLess(pushed["bytes_uploaded"], 0.6 * pushed["bytes_sent"])
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM pack_chunks"), distinct)

        clone = self.path("clone")
        cloned = self.cairn_json("clone", self.daemon.url + "/p", clone)
        self.assertEqual(cloned["errors"], [])
        self.assertEqual(cloned["chunks_received"], distinct)
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))

        # An edit to one small file sends one chunk, in one small pack.
        with open(os.path.join(src, "d0", "f0.txt"), "ab") as f:
            f.write(b" and one more word")
        again = self.cairn_json("-C", src, "push")
        self.assertEqual(again["chunks_sent"], 1)
        self.assertEqual(again["packs_sent"], 1)
        pulled = self.cairn_json("-C", clone, "pull")
        self.assertEqual(pulled["files_changed"], 1)
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))

    def test_a_damaged_pack_fails_only_the_files_it_damages(self):
        src = self.path("src")
        contents = make_small_files(src, 40, seed=4)
        self.cairn("init", src, "--remote", self.daemon.url + "/p", check=True)
        self.assertEqual(self.cairn_json("-C", src, "push")["errors"], [])

        victim = os.path.join("d1", "f1.txt")  # Text: stored compressed.
        digest = hashlib.sha256(contents[victim]).hexdigest()
        literal = self.daemon.blob_literal(digest)
        offset = self.daemon.sql(f"SELECT pack_offset FROM pack_chunks WHERE hash = {literal}")
        stored = self.daemon.sql(f"SELECT stored_size FROM pack_chunks WHERE hash = {literal}")
        (pack,) = [p for p in self.daemon.stored_packs()
                   if self.daemon.sql("SELECT COUNT(*) FROM pack_chunks WHERE hash = "
                                      f"{literal} AND pack_hash = "
                                      f"{self.daemon.blob_literal(p)}") == 1]
        self.daemon.flip_pack_byte(pack, offset + stored // 2)

        clone = self.path("clone")
        result = self.cairn("clone", self.daemon.url + "/p", clone, "--json")
        self.assertEqual(result.returncode, 7, result.stderr)  # Data failed verification.
        self.assertIn("f1.txt", result.stdout + result.stderr)
        self.assertFalse(os.path.exists(os.path.join(clone, victim)))
        # Every other file arrived intact.
        for rel, data in contents.items():
            if rel == victim or hashlib.sha256(data).hexdigest() == digest:
                continue
            with open(os.path.join(clone, rel), "rb") as f:
                self.assertEqual(f.read(), data, rel)
