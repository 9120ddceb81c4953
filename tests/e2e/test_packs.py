"""End-to-end: small files travel and rest in compressed packs, and damage to a pack is caught."""

import hashlib
import os
import random

from harness import CairnTestCase, tree_snapshot


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


class PackTest(CairnTestCase):

    def test_small_files_travel_in_compressed_packs(self):
        src = self.path("src")
        contents = make_small_files(src, 600, seed=3)
        distinct = len({hashlib.sha256(d).digest() for d in contents.values()})
        self.cairn("init", src, "--remote", self.daemon.url + "/p", check=True)
        pushed = self.cairn_json("-C", src, "push")
        self.assertEqual(pushed["errors"], [])
        self.assertEqual(pushed["files_changed"], 600)
        self.assertEqual(pushed["chunks_sent"], distinct)
        # A few packs (one per uploader at most for this little data), not 600 objects.
        self.assertGreaterEqual(pushed["packs_sent"], 1)
        self.assertLessEqual(pushed["packs_sent"], 4)
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
