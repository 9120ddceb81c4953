"""End-to-end: push a tree, clone it, change it, pull it back, through the real binaries."""

import json
import os
import shutil
import sqlite3
import unittest
import urllib.parse

from harness import (CAIRN, CairnTestCase, http, make_tree, run, tree_snapshot, write,
                     write_random)


class PushCloneTest(CairnTestCase):

    def test_tree_round_trip_dedup_and_small_edits(self):
        src = self.path("src")
        make_tree(src)
        self.cairn("init", src, "--remote", self.daemon.url + "/project", check=True)

        first = self.cairn_json("-C", src, "push")
        self.assertGreaterEqual(first["files_changed"], 1000)
        self.assertGreater(first["chunks_sent"], 60)
        self.assertEqual(first["errors"], [])
        for key in ("files_scanned", "files_changed", "chunks_total", "chunks_sent",
                    "bytes_sent", "bytes_deduplicated", "elapsed_ms"):
            self.assertIn(key, first)

        # Clone elsewhere: the trees are identical, empty folders, modes and links included.
        clone = self.path("clone")
        pulled = self.cairn_json("clone", self.daemon.url + "/project", clone)
        self.assertEqual(pulled["errors"], [])
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))
        self.assertTrue(os.path.islink(os.path.join(clone, "dangling")))
        self.assertTrue(os.access(os.path.join(clone, "tools", "run.sh"), os.X_OK))
        self.assertTrue(os.path.isdir(os.path.join(clone, "empty folder", "nested empty")))
        # Modification times come back to the nanosecond: files of one chunk (written whole),
        # of many chunks (written in slots) and empty ones alike.
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = [d for d in dirnames if d != ".cairn"]
            for f in filenames:
                a = os.path.join(dirpath, f)
                if os.path.islink(a):
                    continue
                b = os.path.join(clone, os.path.relpath(a, src))
                self.assertEqual(os.stat(a).st_mtime_ns, os.stat(b).st_mtime_ns, b)

        # A second push of an unchanged tree sends nothing.
        second = self.cairn_json("-C", src, "push")
        self.assertEqual(second["chunks_sent"], 0)
        self.assertEqual(second["files_changed"], 0)

        # One byte changed in the middle of the 64 MiB file: at most 2 chunks cross the wire.
        big = os.path.join(src, "big", "big.bin")
        with open(big, "r+b") as f:
            f.seek(32 << 20)
            byte = f.read(1)
            f.seek(32 << 20)
            f.write(bytes([byte[0] ^ 0xFF]))
        third = self.cairn_json("-C", src, "push")
        self.assertEqual(third["files_changed"], 1)
        self.assertGreaterEqual(third["chunks_sent"], 1)
        self.assertLessEqual(third["chunks_sent"], 2)
        self.assertGreater(third["bytes_deduplicated"], 60 << 20)

        # The clone picks the edit up with pull, reusing its local chunks for the rest.
        pulled = self.cairn_json("-C", clone, "pull")
        self.assertEqual(pulled["files_changed"], 1)
        self.assertLessEqual(pulled["chunks_received"], 2)
        self.assertGreater(pulled["chunks_reused"], 50)
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))

        # A change pushed from the clone (edit, new file, delete) arrives in the first copy.
        with open(os.path.join(clone, "dir3", "sub3", "file 3.txt"), "ab") as f:
            f.write(b"edited in the clone\n")
        with open(os.path.join(clone, "new from clone.txt"), "w") as f:
            f.write("new\n")
        os.remove(os.path.join(clone, "empty.txt"))
        os.remove(os.path.join(clone, "tools", "link-to-empty"))
        pushed = self.cairn_json("-C", clone, "push")
        self.assertEqual(pushed["files_changed"], 2)
        self.assertEqual(pushed["files_deleted"], 2)
        back = self.cairn_json("-C", src, "pull")
        self.assertEqual(back["files_changed"], 2)
        self.assertEqual(back["files_deleted"], 2)
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))
        # Deleted files are kept in the working copy's trash, not destroyed.
        trash = os.path.join(src, ".cairn", "trash")
        trashed = [f for _, _, files in os.walk(trash) for f in files]
        self.assertIn("empty.txt", trashed)

        status = self.cairn_json("-C", src, "status")
        self.assertTrue(status["in_sync"], status)

    def test_a_pull_of_more_than_one_durable_batch_finishes(self):
        # More than 2,000 files: a pull puts files in place in batches of 2,000 (or 256 MiB),
        # and filling a batch while downloads went on once deadlocked the pull.
        src = self.path("many")
        for i in range(2_050):
            write(os.path.join(src, f"d{i % 7}", f"f{i}.txt"), f"file {i}\n")
        self.cairn("init", src, "--remote", self.daemon.url + "/many", check=True)
        self.cairn_json("-C", src, "push")
        clone = self.path("many-clone")
        result = run([CAIRN, "clone", self.daemon.url + "/many", clone, "--json"], env=self.env,
                     timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(json.loads(result.stdout)["files_changed"], 2_050)
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))

    def test_status_says_when_the_remote_was_not_asked(self):
        src = self.path("st")
        os.makedirs(src)
        write(os.path.join(src, "a.txt"), "a\n")
        self.cairn("init", src, "--remote", self.daemon.url + "/st", check=True)
        self.cairn("-C", src, "push", check=True)
        asked = self.cairn("-C", src, "status")
        self.assertIn("remote: no changes to pull", asked.stdout)

        offline = self.cairn("-C", src, "status", "--offline")
        self.assertEqual(offline.returncode, 0, offline.stderr)
        self.assertNotIn("no changes to pull", offline.stdout)
        self.assertIn("remote: not asked", offline.stdout)
        as_json = self.cairn_json("-C", src, "status", "--offline")
        self.assertFalse(as_json["remote_checked"])
        self.assertFalse(as_json["in_sync"])

        self.daemon.stop()
        down = self.cairn("-C", src, "status")
        self.assertNotIn("no changes to pull", down.stdout)
        self.assertIn("remote: not reachable", down.stdout)
        self.assertFalse(self.cairn_json("-C", src, "status")["in_sync"])

    def test_duplicate_content_crosses_the_wire_once_each_way(self):
        src = self.path("dups")
        write_random(os.path.join(src, "a.bin"), 6 << 20, seed=4)
        os.makedirs(os.path.join(src, "copies"))
        for name in ("b.bin", "copies/c.bin"):
            shutil.copy(os.path.join(src, "a.bin"), os.path.join(src, name))
        self.cairn("init", src, "--remote", self.daemon.url + "/dups", check=True)
        pushed = self.cairn_json("-C", src, "push")
        self.assertEqual(pushed["files_changed"], 3)
        self.assertEqual(pushed["chunks_total"], 3 * pushed["chunks_sent"])
        self.assertEqual(pushed["bytes_sent"], 6 << 20)
        cloned = self.cairn_json("clone", self.daemon.url + "/dups", self.path("dups-clone"))
        self.assertEqual(cloned["chunks_received"], pushed["chunks_sent"])
        self.assertEqual(cloned["bytes_received"], 6 << 20)
        self.assertEqual(tree_snapshot(src), tree_snapshot(self.path("dups-clone")))

    def test_login_stores_the_token_privately_and_commands_use_it(self):
        env = dict(self.env)
        env.pop("CAIRN_TOKEN")
        bad = self.cairn("login", self.daemon.url, "--token", "cairn_" + "2" * 64, env=env)
        self.assertEqual(bad.returncode, 5, bad.stderr)
        self.assertFalse(os.path.exists(env["CAIRN_CONFIG"]))
        good = self.cairn("login", self.daemon.url, "--token", self.token, env=env)
        self.assertEqual(good.returncode, 0, good.stderr)
        self.assertIn("alice", good.stdout)
        self.assertNotIn(self.token, good.stdout + good.stderr)
        self.assertEqual(os.stat(env["CAIRN_CONFIG"]).st_mode & 0o777, 0o600)
        # Without CAIRN_TOKEN or a working copy, ls finds server and token in the config.
        os.makedirs(self.path("w"))
        with open(self.path("w", "f.txt"), "w") as f:
            f.write("x")
        self.assertEqual(self.cairn("init", self.path("w"), "--remote",
                                    self.daemon.url + "/w", env=env).returncode, 0)
        self.assertEqual(self.cairn("-C", self.path("w"), "push", env=env).returncode, 0)
        listing = json.loads(self.cairn("ls", "/w", "--json", env=env).stdout)
        self.assertEqual([e["path"] for e in listing["entries"]], ["/w/f.txt"])

    def test_a_path_can_change_between_file_and_folder(self):
        a, b = self.path("a"), self.path("b")
        os.makedirs(os.path.join(a, "thing"))
        with open(os.path.join(a, "thing", "inside.txt"), "w") as f:
            f.write("in a folder\n")
        with open(os.path.join(a, "other"), "w") as f:
            f.write("a file\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/k", check=True)
        self.cairn_json("-C", a, "push")
        self.cairn_json("clone", self.daemon.url + "/k", b)

        shutil.rmtree(os.path.join(a, "thing"))
        with open(os.path.join(a, "thing"), "w") as f:
            f.write("now a file\n")
        os.remove(os.path.join(a, "other"))
        os.makedirs(os.path.join(a, "other"))
        with open(os.path.join(a, "other", "x.txt"), "w") as f:
            f.write("now in a folder\n")
        pushed = self.cairn_json("-C", a, "push")
        self.assertEqual(pushed["errors"], [])
        pulled = self.cairn_json("-C", b, "pull")
        self.assertEqual(pulled["errors"], [])
        self.assertEqual(pulled["conflicts"], [])
        self.assertEqual(tree_snapshot(a), tree_snapshot(b))
        self.assertTrue(self.cairn_json("-C", a, "status")["in_sync"])
        self.assertTrue(self.cairn_json("-C", b, "status")["in_sync"])

    def test_local_edit_is_never_overwritten_by_pull(self):
        a, b = self.path("a"), self.path("b")
        os.makedirs(a)
        with open(os.path.join(a, "notes.txt"), "w") as f:
            f.write("v1\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/shared", check=True)
        self.cairn_json("-C", a, "push")
        self.cairn_json("clone", self.daemon.url + "/shared", b)

        with open(os.path.join(a, "notes.txt"), "w") as f:
            f.write("edited in a\n")
        self.cairn_json("-C", a, "push")
        with open(os.path.join(b, "notes.txt"), "w") as f:
            f.write("edited in b\n")

        # Both edits survive: b's steps aside as a conflicted copy, a's takes the path.
        pulled = self.cairn_json("-C", b, "pull", expect_exit=3)
        self.assertEqual(len(pulled["conflicts"]), 1)
        with open(os.path.join(b, "notes.txt")) as f:
            self.assertEqual(f.read(), "edited in a\n")
        copies = [n for n in os.listdir(b) if "(conflicted copy from e2e " in n]
        self.assertEqual(len(copies), 1, os.listdir(b))
        with open(os.path.join(b, copies[0])) as f:
            self.assertEqual(f.read(), "edited in b\n")
        pushed = self.cairn_json("-C", b, "push")
        self.assertEqual(pushed["changed"], copies)
        self.cairn_json("-C", a, "pull")
        self.assertEqual(tree_snapshot(a), tree_snapshot(b))

    def working_copy_cursor(self, root):
        with sqlite3.connect(os.path.join(root, ".cairn", "state.db")) as db:
            row = db.execute("SELECT value FROM settings WHERE key='cursor'").fetchone()
        return row[0] if row else ""

    def server_cursor(self):
        """Where a read of the whole change feed ends."""
        cursor = ""
        while True:
            status, body = http("GET", self.daemon.url + "/v1/changes?limit=5000&cursor=" +
                                urllib.parse.quote(cursor), token=self.token)
            self.assertEqual(status, 200, body)
            page = json.loads(body)
            cursor = page["cursor"]
            if not page["has_more"]:
                return cursor

    def test_a_push_moves_the_pull_cursor_past_its_own_changes_only(self):
        """After a push, status and pull do not read back what it wrote; what another copy
        pushed meanwhile is still seen."""
        a, b = self.path("a"), self.path("b")
        for i in range(300):
            write(os.path.join(a, "d", f"f{i}.txt"), f"file {i}\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/cur", check=True)
        self.cairn_json("-C", a, "push")
        self.assertEqual(self.working_copy_cursor(a), self.server_cursor())
        self.assertTrue(self.cairn_json("-C", a, "status")["in_sync"])

        self.cairn_json("clone", self.daemon.url + "/cur", b)
        write(os.path.join(b, "d", "f1.txt"), "edited in b\n")
        self.cairn_json("-C", b, "push")
        self.assertEqual(self.working_copy_cursor(b), self.server_cursor())
        write(os.path.join(a, "d", "f2.txt"), "edited in a\n")
        self.cairn_json("-C", a, "push")
        # b's edit came between a's last read and a's push: a's cursor stays before it.
        self.assertNotEqual(self.working_copy_cursor(a), self.server_cursor())
        status = self.cairn_json("-C", a, "status")
        self.assertEqual(status["remote"], [{"path": "d/f1.txt", "change": "modified"}])
        self.cairn_json("-C", a, "pull")
        with open(os.path.join(a, "d", "f1.txt")) as f:
            self.assertEqual(f.read(), "edited in b\n")
        self.assertEqual(self.working_copy_cursor(a), self.server_cursor())
        self.cairn_json("-C", b, "pull")
        self.assertEqual(tree_snapshot(a), tree_snapshot(b))

    def test_same_edit_on_both_sides_is_no_conflict(self):
        a, b = self.path("a"), self.path("b")
        os.makedirs(a)
        with open(os.path.join(a, "f.txt"), "w") as f:
            f.write("one\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/x", check=True)
        self.cairn_json("-C", a, "push")
        self.cairn_json("clone", self.daemon.url + "/x", b)
        for root in (a, b):
            with open(os.path.join(root, "f.txt"), "w") as f:
                f.write("same edit\n")
        self.cairn_json("-C", a, "push")
        pulled = self.cairn_json("-C", b, "pull")
        self.assertEqual(pulled["conflicts"], [])
        pushed = self.cairn_json("-C", b, "push")
        self.assertEqual(pushed["conflicts"], [])
        self.assertEqual(pushed["chunks_sent"], 0)

    def test_permission_bits_travel_and_a_chmod_moves_no_bytes(self):
        a, b = self.path("a"), self.path("b")
        write(os.path.join(a, "secret.key"), "private\n")
        os.chmod(os.path.join(a, "secret.key"), 0o600)
        write(os.path.join(a, "tool.sh"), "#!/bin/sh\n")
        os.chmod(os.path.join(a, "tool.sh"), 0o750)
        write(os.path.join(a, "private", "notes.txt"), "mine\n")
        os.chmod(os.path.join(a, "private"), 0o700)
        write(os.path.join(a, "sealed", "one.txt"), "one\n")
        os.chmod(os.path.join(a, "sealed"), 0o555)
        self.cairn("init", a, "--remote", self.daemon.url + "/m", check=True)
        self.assertEqual(self.cairn_json("-C", a, "push")["errors"], [])

        # The modes arrive as they were, whatever the receiving side's umask.
        old_umask = os.umask(0o077)
        try:
            cloned = self.cairn_json("clone", self.daemon.url + "/m", b)
        finally:
            os.umask(old_umask)
        self.assertEqual(cloned["errors"], [])
        self.assertEqual(tree_snapshot(a), tree_snapshot(b))
        mode = lambda *p: os.lstat(os.path.join(*p)).st_mode & 0o777
        self.assertEqual(mode(b, "secret.key"), 0o600)
        self.assertEqual(mode(b, "private"), 0o700)
        self.assertEqual(mode(b, "sealed"), 0o555)
        listing = json.loads(self.cairn("-C", a, "ls", "--json").stdout)
        modes = {e["path"]: e["mode"] for e in listing["entries"]}
        self.assertEqual(modes["/m/secret.key"], "0600")
        self.assertEqual(modes["/m/private"], "0700")

        # A chmod is a change: status says so, push sends no chunk, pull fetches no byte.
        os.chmod(os.path.join(a, "secret.key"), 0o640)
        os.chmod(os.path.join(a, "private"), 0o750)
        status = self.cairn_json("-C", a, "status")
        changed = {c["path"] for c in status["local"]}
        self.assertEqual(changed, {"secret.key", "private/"}, status)
        pushed = self.cairn_json("-C", a, "push")
        self.assertEqual(pushed["chunks_sent"], 0)
        self.assertEqual(sorted(pushed["changed"]), ["private/", "secret.key"])
        pulled = self.cairn_json("-C", b, "pull")
        self.assertEqual(pulled["errors"], [])
        self.assertEqual(pulled["chunks_received"], 0)
        self.assertEqual(mode(b, "secret.key"), 0o640)
        self.assertEqual(mode(b, "private"), 0o750)
        self.assertEqual(self.cairn_json("-C", b, "push")["files_changed"], 0)

        # A file added on one side to a folder both keep read-only still arrives on the other.
        os.chmod(os.path.join(a, "sealed"), 0o755)
        write(os.path.join(a, "sealed", "two.txt"), "two\n")
        os.chmod(os.path.join(a, "sealed"), 0o555)
        self.assertEqual(self.cairn_json("-C", a, "push")["errors"], [])
        # Root writes anywhere: b's side runs as an ordinary user, as it would in real life.
        as_user = []
        if os.geteuid() == 0:
            as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
            os.chmod(self.tmp, 0o755)
            for dirpath, dirnames, filenames in os.walk(b):
                for name in [dirpath] + [os.path.join(dirpath, n) for n in filenames]:
                    os.lchown(name, 65534, 65534)
        result = run(as_user + [CAIRN, "-C", b, "pull", "--json"], env=self.env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        pulled = json.loads(result.stdout)
        self.assertEqual(pulled["errors"], [])
        with open(os.path.join(b, "sealed", "two.txt")) as f:
            self.assertEqual(f.read(), "two\n")
        self.assertEqual(mode(b, "sealed"), 0o555)
        self.assertEqual(tree_snapshot(a), tree_snapshot(b))

        # An old version written out keeps its own mode; history names it.
        out = self.path("secret-v1")
        self.cairn_json("-C", a, "restore", "secret.key", "--version", "1", "--to", out)
        self.assertEqual(os.lstat(out).st_mode & 0o777, 0o600)
        os.chmod(os.path.join(a, "sealed"), 0o755)  # So that the test's clean-up can remove it.
        os.chmod(os.path.join(b, "sealed"), 0o755)


if __name__ == "__main__":
    unittest.main()
