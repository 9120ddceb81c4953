"""End-to-end: the admin's cairnd commands against real data folders (issue 22).

MetadataBackupTest: `cairnd backup --to FILE` copies SQLite metadata while `serve` runs; the
copy, with the blobs, restores into a new data folder that serves what was there at the backup
and nothing later, and checks clean. With PostgreSQL metadata it refuses and points to pg_dump.
"""
import os
import shutil
import threading
import unittest

from harness import CAIRND, CairnTestCase, Daemon, read, run, write, write_random


class MetadataBackupTest(CairnTestCase):

    def backup(self, to):
        return run([CAIRND, "backup", "--data", self.daemon.data_dir, "--to", to])

    def test_a_backup_taken_while_serving_restores_into_a_new_data_folder(self):
        copy = self.path("metadata-backup.db")
        if self.daemon.backends.postgres is not None:
            refused = self.backup(copy)
            self.assertEqual(refused.returncode, 2, refused.stderr)
            self.assertIn("pg_dump", refused.stderr)
            self.assertFalse(os.path.exists(copy))
            return
        work = self.path("w")
        write(os.path.join(work, "notes.txt"), "kept\n")
        write_random(os.path.join(work, "data", "big.bin"), 3_000_000, seed=9)
        self.cairn("init", work, "--remote", self.daemon.url + "/proj", check=True)
        self.cairn("-C", work, "push", check=True)

        # Taken while serve runs and another push writes: the copy is one moment of it.
        busy = self.path("busy")
        for i in range(300):
            write(os.path.join(busy, "f%03d.txt" % i), "file %d\n" % i)
        self.cairn("init", busy, "--remote", self.daemon.url + "/busy", check=True)
        pushing = threading.Thread(target=lambda: self.cairn("-C", busy, "push", check=True))
        pushing.start()
        made = self.backup(copy)
        pushing.join()
        self.assertEqual(made.returncode, 0, made.stderr)
        self.assertIn("backed up the metadata", made.stdout)
        self.assertEqual(sorted(f for f in os.listdir(self.tmp) if "partial" in f), [])
        # Never over an existing backup.
        again = self.backup(copy)
        self.assertEqual(again.returncode, 3, again.stderr)

        # What comes after the backup is not in it.
        write(os.path.join(work, "later.txt"), "after the backup\n")
        self.cairn("-C", work, "push", check=True)
        self.daemon.stop()

        # Restore: a new data folder, the copy as its metadata, the blobs copied beside it.
        new = self.path("restored")
        run([CAIRND, "init", "--data", new], check=True)
        for leftover in ("metadata.db", "metadata.db-wal", "metadata.db-shm"):
            if os.path.exists(os.path.join(new, leftover)):
                os.remove(os.path.join(new, leftover))
        shutil.copy(copy, os.path.join(new, "metadata.db"))
        shutil.rmtree(os.path.join(new, "blobs"))
        shutil.copytree(os.path.join(self.daemon.data_dir, "blobs"), os.path.join(new, "blobs"))
        restored = Daemon(new)
        restored.start()
        self.addCleanup(restored.stop)

        clone = self.path("clone")
        self.cairn("clone", restored.url + "/proj", clone, check=True)
        self.assertEqual(read(os.path.join(clone, "notes.txt")), "kept\n")
        with open(os.path.join(clone, "data", "big.bin"), "rb") as got, \
                open(os.path.join(work, "data", "big.bin"), "rb") as want:
            self.assertEqual(got.read(), want.read())
        self.assertFalse(os.path.exists(os.path.join(clone, "later.txt")))
        # Of the push that ran during the backup, whatever the copy holds is whole (it may hold
        # none of it: exit 6, no such folder).
        busy_clone = self.path("busy-clone")
        cloned = self.cairn("clone", restored.url + "/busy", busy_clone)
        self.assertIn(cloned.returncode, (0, 6), cloned.stderr)
        for name in os.listdir(busy_clone) if cloned.returncode == 0 else []:
            if name.startswith("f"):
                self.assertEqual(read(os.path.join(busy_clone, name)),
                                 "file %d\n" % int(name[1:4]))
        checked = restored.check("--read-data")
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)


if __name__ == "__main__":
    unittest.main()
