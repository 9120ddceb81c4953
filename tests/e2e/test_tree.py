"""End-to-end: folders, moves, history, restore, the trash, conflicted copies, quota and the
mass-delete guard, through the real binaries, with two working copies as two devices."""

import json
import os
import re
import subprocess

from harness import CAIRN, CAIRND, CairnTestCase, read, run, tree_snapshot, write

COPY = re.compile(r" \(conflicted copy (\d+ )?from (\S+) \d{4}-\d\d-\d\d \d{6}\)")


class TreeTest(CairnTestCase):

    def setUp(self):
        super().setUp()
        self.env_b = dict(self.env)
        self.env_b["CAIRN_DEVICE"] = "desk"

    def two_copies(self, files):
        """Working copies a (device e2e) and b (device desk) of /w holding `files`."""
        a, b = self.path("a"), self.path("b")
        os.makedirs(a)
        for rel, text in files.items():
            write(os.path.join(a, rel), text)
        self.cairn("init", a, "--remote", self.daemon.url + "/w", check=True)
        self.cairn_json("-C", a, "push")
        self.cairn_json("clone", self.daemon.url + "/w", b, env=self.env_b)
        return a, b

    def a(self, *args, expect_exit=0):
        return self.cairn_json("-C", self.path("a"), *args, expect_exit=expect_exit)

    def b(self, *args, expect_exit=0):
        return self.cairn_json("-C", self.path("b"), *args, expect_exit=expect_exit,
                               env=self.env_b)

    def remote(self, *args, expect_exit=0):
        """cairn outside any working copy: PATHs are remote."""
        return self.cairn_json(*args, expect_exit=expect_exit,
                               env=dict(self.env, CAIRN_SERVER=self.daemon.url))

    def converge(self):
        """Push and pull on both sides, twice; returns both snapshots."""
        for _ in range(2):
            for name, env in (("a", self.env), ("b", self.env_b)):
                for command in ("push", "pull"):
                    r = self.cairn("-C", self.path(name), command, "--json", env=env)
                    self.assertIn(r.returncode, (0, 3), f"{name} {command}: {r.stdout}{r.stderr}")
        return tree_snapshot(self.path("a")), tree_snapshot(self.path("b"))

    def test_moving_a_folder_of_a_thousand_files_moves_no_bytes(self):
        files = {f"proj/src/f{i:04}.txt": f"file {i}\n" * 3 for i in range(1000)}
        # Neighbours that sort between "proj" and "proj/...": they stay where they are.
        files.update({"proj b/x.txt": "x\n", "proj.txt": "p\n", "proj-old/y.txt": "y\n"})
        a, b = self.two_copies(files)
        moved = self.a("mv", "proj", "archive/proj2")
        self.assertEqual(moved["to"], "/w/archive/proj2")
        self.assertFalse(os.path.exists(os.path.join(a, "proj")))
        self.assertEqual(read(os.path.join(a, "archive/proj2/src/f0007.txt")), "file 7\n" * 3)
        listing = self.remote("ls", "/w/archive/proj2/src")
        self.assertEqual(len(listing["entries"]), 1000)
        self.remote("ls", "/w/proj", expect_exit=6)
        self.assertTrue(self.a("status")["in_sync"])

        # The other device applies it as one rename: nothing downloaded, nothing re-written.
        pulled = self.b("pull")
        self.assertEqual(pulled["moved"], ["proj -> archive/proj2"])
        self.assertEqual(pulled["files_changed"], 0)
        self.assertEqual(pulled["chunks_received"], 0)
        self.assertEqual(tree_snapshot(a), tree_snapshot(b))
        self.assertTrue(self.b("status")["in_sync"])

        # A plain `mv` in the working copy is found by inode and pushed as a move.
        os.rename(os.path.join(b, "archive"), os.path.join(b, "old"))
        os.rename(os.path.join(b, "old/proj2/src/f0001.txt"), os.path.join(b, "old/one.txt"))
        pushed = self.b("push")
        self.assertEqual(pushed["moved"], ["archive -> old", "old/proj2/src/f0001.txt -> old/one.txt"])
        self.assertEqual(pushed["files_changed"], 0)
        self.assertEqual(pushed["files_deleted"], 0)
        self.assertEqual(pushed["chunks_sent"], 0)
        pulled = self.a("pull")
        self.assertEqual(pulled["files_changed"], 0)
        self.assertEqual(tree_snapshot(a), tree_snapshot(b))
        # History follows the file.
        history = self.a("history", "old/one.txt")
        self.assertEqual(len(history["versions"]), 1)

    def test_moves_into_and_out_of_a_working_copy_folder(self):
        a, _ = self.two_copies({"inside/old/o.txt": "o\n", "inside/keep.txt": "k\n",
                                "outside/box/deep/d.txt": "d\n", "outside/box/b.txt": "b\n"})
        inner = self.path("inner")
        self.cairn_json("clone", self.daemon.url + "/w/inside", inner)
        self.remote("mv", "/w/outside/box", "/w/inside/box")   # moved in: one journal entry
        self.remote("mv", "/w/inside/old", "/w/outside/old")   # moved out
        pulled = self.cairn_json("-C", inner, "pull")
        self.assertEqual(read(os.path.join(inner, "box/deep/d.txt")), "d\n")
        self.assertEqual(read(os.path.join(inner, "box/b.txt")), "b\n")
        self.assertFalse(os.path.exists(os.path.join(inner, "old")), pulled)
        self.assertTrue(self.cairn_json("-C", inner, "status")["in_sync"])
        self.a("pull")
        self.assertEqual(tree_snapshot(inner), tree_snapshot(os.path.join(a, "inside")))

    def test_offline_edits_on_two_devices_keep_both_everywhere(self):
        a, b = self.two_copies({"notes/plan.md": "v1\n"})
        write(os.path.join(a, "notes/plan.md"), "edited on a\n")
        write(os.path.join(b, "notes/plan.md"), "edited on b\n")
        self.a("push")
        pushed = self.b("push", expect_exit=3)
        self.assertEqual(len(pushed["conflicts"]), 1)
        # b's edit is now the conflicted copy, on the server and here; the path awaits a's.
        copies = [n for n in os.listdir(os.path.join(b, "notes")) if COPY.search(n)]
        self.assertEqual(len(copies), 1)
        self.assertIn("from desk", copies[0])
        self.assertTrue(copies[0].endswith(".md"))
        self.b("pull")
        self.a("pull")
        snap_a, snap_b = tree_snapshot(a), tree_snapshot(b)
        self.assertEqual(snap_a, snap_b)
        self.assertEqual(read(os.path.join(a, "notes/plan.md")), "edited on a\n")
        self.assertEqual(read(os.path.join(a, "notes", copies[0])), "edited on b\n")
        self.assertEqual(self.a("conflicts")["conflicts"], ["notes/" + copies[0]])
        self.assertEqual(self.a("status")["conflicts"], ["notes/" + copies[0]])
        self.assertEqual(self.remote("conflicts")["conflicts"], ["/w/notes/" + copies[0]])

    def test_a_pull_that_meets_a_local_edit_names_the_copy_as_the_server_would(self):
        a, b = self.two_copies({"f.txt": "v1\n"})
        write(os.path.join(a, "f.txt"), "from a\n")
        self.a("push")
        write(os.path.join(b, "f.txt"), "from b\n")
        pulled = self.b("pull", expect_exit=3)
        self.assertEqual(len(pulled["conflicts"]), 1)
        self.assertEqual(read(os.path.join(b, "f.txt")), "from a\n")
        copies = [n for n in os.listdir(b) if COPY.search(n)]
        self.assertEqual(len(copies), 1)
        self.assertEqual(read(os.path.join(b, copies[0])), "from b\n")
        self.b("push")
        self.a("pull")
        self.assertEqual(tree_snapshot(a), tree_snapshot(b))

    def test_the_outcome_table(self):
        a, b = self.two_copies({
            "edit-vs-delete.txt": "base\n", "delete-vs-edit.txt": "base\n",
            "rename-vs-edit.txt": "base\n", "move-vs-edit.txt": "base\n",
            "both-deleted.txt": "base\n", "Case.txt": "base\n", "keep/k.txt": "keep\n",
            "other/o.txt": "o\n", "pad/1": "1", "pad/2": "2", "pad/3": "3", "pad/4": "4",
            "pad/5": "5", "pad/6": "6",
        })
        # a: edits one, deletes one, renames one, edits one that b moves, deletes one both
        # delete, renames one by case only, and makes a new file where b makes another.
        write(os.path.join(a, "edit-vs-delete.txt"), "edited on a\n")
        os.remove(os.path.join(a, "delete-vs-edit.txt"))
        os.rename(os.path.join(a, "rename-vs-edit.txt"), os.path.join(a, "renamed-on-a.txt"))
        write(os.path.join(a, "move-vs-edit.txt"), "edited on a\n")
        os.remove(os.path.join(a, "both-deleted.txt"))
        os.rename(os.path.join(a, "Case.txt"), os.path.join(a, "case.txt"))
        write(os.path.join(a, "new.txt"), "new on a\n")
        # b: the other side of each.
        os.remove(os.path.join(b, "edit-vs-delete.txt"))
        write(os.path.join(b, "delete-vs-edit.txt"), "edited on b\n")
        write(os.path.join(b, "rename-vs-edit.txt"), "edited on b\n")
        os.makedirs(os.path.join(b, "moved"))
        os.rename(os.path.join(b, "move-vs-edit.txt"), os.path.join(b, "moved/move-vs-edit.txt"))
        os.remove(os.path.join(b, "both-deleted.txt"))
        write(os.path.join(b, "new.txt"), "new on b\n")

        snap_a, snap_b = self.converge()
        self.assertEqual(snap_a, snap_b)
        self.assertEqual(self.a("status")["local"], [])
        self.assertEqual(self.b("status")["local"], [])
        # Edit beats delete, either way round.
        self.assertEqual(read(os.path.join(a, "edit-vs-delete.txt")), "edited on a\n")
        self.assertEqual(read(os.path.join(a, "delete-vs-edit.txt")), "edited on b\n")
        # Rename here, edit there: the renamed file holds the edit; the old name is gone.
        self.assertEqual(read(os.path.join(a, "renamed-on-a.txt")), "edited on b\n")
        self.assertFalse(os.path.exists(os.path.join(a, "rename-vs-edit.txt")))
        # Move there, edit here: the moved file holds the edit.
        self.assertEqual(read(os.path.join(a, "moved/move-vs-edit.txt")), "edited on a\n")
        self.assertFalse(os.path.exists(os.path.join(a, "move-vs-edit.txt")))
        # Deleted on both sides: gone, no conflict left behind.
        self.assertFalse(os.path.exists(os.path.join(a, "both-deleted.txt")))
        # Case-only rename.
        self.assertIn("case.txt", os.listdir(a))
        self.assertNotIn("Case.txt", os.listdir(a))
        # Two new files at one path: both kept, one as a conflicted copy.
        news = sorted(n for n in os.listdir(a) if n.startswith("new"))
        self.assertEqual(len(news), 2, news)
        self.assertEqual(sorted(read(os.path.join(a, n)) for n in news),
                         ["new on a\n", "new on b\n"])
        # Nothing was lost: every version written is on the server.
        self.assertEqual(len(self.a("history", "renamed-on-a.txt")["versions"]), 2)

    def test_history_restore_and_the_trash(self):
        a, _ = self.two_copies({"doc.txt": "one\n", "t/a/x.txt": "x\n", "t/a/b/y.txt": "y\n",
                                "t/z.txt": "z\n"})
        write(os.path.join(a, "doc.txt"), "two\n")
        self.a("push")
        write(os.path.join(a, "doc.txt"), "three\n")
        self.a("push")
        history = self.a("history", "doc.txt")
        self.assertEqual([v["version"] for v in history["versions"]], [3, 2, 1])
        self.assertEqual(history["versions"][2]["device"], "e2e")
        self.assertEqual(history["versions"][2]["author"], "alice")

        # A copy of version 1 elsewhere, the server untouched.
        out = self.path("v1.txt")
        got = self.a("restore", "doc.txt", "--version", "1", "--to", out)
        self.assertEqual(got["version"], 1)
        self.assertEqual(read(out), "one\n")
        self.assertEqual(self.cairn("-C", a, "restore", "doc.txt", "--version", "1", "--to",
                                    out).returncode, 3)  # Never overwrites.
        # Restore as a new version: instant, and the working copy follows.
        restored = self.a("restore", "doc.txt", "--version", "1")
        self.assertEqual(restored["version"], 4)
        self.assertEqual(read(os.path.join(a, "doc.txt")), "one\n")
        self.assertEqual(len(self.a("history", "doc.txt")["versions"]), 4)

        # Delete a folder with nested content; bring it all back from the trash.
        self.a("rm", "t/a/x.txt")
        self.assertEqual(self.cairn("-C", a, "rm", "t").returncode, 2)  # A folder needs -r.
        self.a("rm", "-r", "t")
        self.assertFalse(os.path.exists(os.path.join(a, "t")))
        trash = self.a("trash")
        self.assertEqual([e["path"] for e in trash["entries"]], ["/w/t"])
        self.assertEqual(trash["entries"][0]["files"], 2)
        self.a("trash", "restore", "t")
        self.assertEqual(read(os.path.join(a, "t/a/b/y.txt")), "y\n")
        self.assertEqual(read(os.path.join(a, "t/z.txt")), "z\n")
        self.assertFalse(os.path.exists(os.path.join(a, "t/a/x.txt")))
        # The file deleted on its own comes back by itself, to a new place.
        self.a("trash", "restore", "t/a/x.txt", "--to", "x-again.txt")
        self.assertEqual(read(os.path.join(a, "x-again.txt")), "x\n")
        self.assertEqual(self.a("trash")["entries"], [])
        self.assertTrue(self.a("status")["in_sync"])

        # Emptying needs --yes, then it is for good.
        self.a("rm", "doc.txt")
        self.assertEqual(self.cairn("-C", a, "trash", "empty").returncode, 2)
        emptied = self.a("trash", "empty", "--yes")
        self.assertEqual(emptied["nodes"], 1)
        self.assertEqual(self.cairn("-C", a, "restore", "doc.txt").returncode, 6)

    def test_mass_delete_guard(self):
        a, _ = self.two_copies({f"f{i}.txt": str(i) for i in range(10)})
        for i in range(6):
            os.remove(os.path.join(a, f"f{i}.txt"))
        refused = self.cairn("-C", a, "push", "--json")
        self.assertEqual(refused.returncode, 2, refused.stdout)
        self.assertIn("--allow-mass-delete", refused.stdout)
        self.assertEqual(len(self.remote("ls", "/w")["entries"]), 10)  # Nothing sent.
        pushed = self.a("push", "--allow-mass-delete")
        self.assertEqual(pushed["files_deleted"], 6)
        self.assertEqual(len(self.remote("ls", "/w")["entries"]), 4)

    def test_quota(self):
        run([CAIRND, "user", "quota", "alice", "1K", "--data", self.daemon.data_dir], check=True)
        a = self.path("a")
        write(os.path.join(a, "small.txt"), "x" * 600)
        self.cairn("init", a, "--remote", self.daemon.url + "/q", check=True)
        self.a("push")
        quota = self.a("quota")
        self.assertEqual(quota["used"], 600)
        self.assertEqual(quota["limit"], 1024)
        stored = self.daemon.stored_chunk_files()
        write(os.path.join(a, "big.txt"), os.urandom(300).hex())
        # Refused before a byte of it travels: nothing is uploaded, for gc to clean up later.
        pushed = self.cairn("-C", a, "push")
        self.assertEqual(pushed.returncode, 8, pushed.stdout + pushed.stderr)  # No space.
        self.assertIn("over quota", pushed.stderr)
        self.assertIn("nothing was uploaded", pushed.stderr)
        self.assertEqual(self.daemon.stored_chunk_files(), stored)
        self.assertEqual(self.a("quota")["used"], 600)
        shown = run([CAIRND, "user", "quota", "alice", "--data", self.daemon.data_dir],
                    check=True).stdout
        self.assertIn("600 B used of 1.0 KiB", shown)
        # What fits still goes: a smaller edit of the same file.
        write(os.path.join(a, "big.txt"), "z" * 400)
        self.a("push")
        self.assertEqual(self.a("quota")["used"], 1000)
        self.assertEqual(run([CAIRND, "user", "quota", "alice", "lots", "--data",
                              self.daemon.data_dir]).returncode, 2)

    def test_quota_race_between_two_clients(self):
        """Two clients push at once and together pass the quota: exactly one wins, every time,
        and usage is exactly what was committed."""
        run([CAIRND, "user", "quota", "alice", "1000", "--data", self.daemon.data_dir],
            check=True)
        sides = [self.path("c1"), self.path("c2")]
        for side in sides:
            os.makedirs(side)
            self.cairn("init", side, "--remote", self.daemon.url + "/race", check=True)
        for round_ in range(10):
            names = []
            for n, side in enumerate(sides):
                name = f"r{round_}-{n}.bin"
                with open(os.path.join(side, name), "wb") as f:
                    f.write(os.urandom(600))
                names.append(name)
            procs = [subprocess.Popen([CAIRN, "-C", side, "push", "--json"], env=self.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for side in sides]
            outs = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
            for p in procs:
                p.stdout.close()
                p.stderr.close()
            codes = sorted(code for code, _, _ in outs)
            self.assertEqual(codes, [0, 8], f"round {round_}: {outs}")  # 8: no space.
            # Refused at the commit (its report lists the error), or before it sent anything.
            (loser,) = [out + err for code, out, err in outs if code == 8]
            self.assertIn("over quota", loser)
            self.assertEqual(self.cairn_json("-C", sides[0], "quota")["used"], 600, f"round {round_}")
            winner = [n for n, (code, _, _) in enumerate(outs) if code == 0][0]
            self.cairn("-C", sides[winner], "rm", names[winner], check=True)
            os.remove(os.path.join(sides[1 - winner], names[1 - winner]))
            self.cairn("-C", sides[0], "trash", "empty", "--yes", check=True)
            self.assertEqual(self.cairn_json("-C", sides[0], "quota")["used"], 0)
