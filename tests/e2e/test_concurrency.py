"""End-to-end: several devices editing one tree at once. Bases are named by what they are (a node
and a version of it), so that nothing written is ever replaced by an edit made without seeing it,
and every copy converges. The seeded randomized run is random_sync.py."""

import json
import os

from harness import CairnTestCase, read, tree_snapshot, write
from random_sync import RandomSyncTest  # noqa: F401  (ctest runs it from this module)


class DevicesTest(CairnTestCase):

    def device(self, name):
        root = self.path(name)
        env = dict(self.env, CAIRN_DEVICE=name, CAIRN_SERVER=self.daemon.url)
        return root, env

    def run_in(self, device, *args, expect=(0,)):
        root, env = device
        result = self.cairn("-C", root, *args, "--json", env=env)
        self.assertIn(result.returncode, expect, f"{args}: {result.stdout}{result.stderr}")
        return result

    def clone(self, name):
        root, env = self.device(name)
        result = self.cairn("clone", self.daemon.url + "/", root, "--json", env=env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return root, env

    def contents(self, root):
        out = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != ".cairn"]
            out += [read(os.path.join(dirpath, f)) for f in filenames]
        return sorted(out)

    def test_an_edit_is_never_replaced_by_one_made_without_seeing_it(self):
        # A, B and C hold seed.txt (node 1, version 1). B edits it; A renames it and deletes it;
        # B pushes (a new seed.txt, version 1 of a new node); C, which never pulled, edits seed.txt
        # and pushes. C's base is "version 1 of node 1", not "version 1": it must not replace
        # B's edit.
        a = self.device("A")
        write(os.path.join(a[0], "seed.txt"), "seed\n")
        self.cairn("init", a[0], "--remote", self.daemon.url + "/", check=True, env=a[1])
        self.run_in(a, "push")
        b, c = self.clone("B"), self.clone("C")
        write(os.path.join(b[0], "seed.txt"), "B's edit\n")
        os.rename(os.path.join(a[0], "seed.txt"), os.path.join(a[0], "r0.txt"))
        self.run_in(a, "push")
        os.remove(os.path.join(a[0], "r0.txt"))
        self.run_in(a, "push")
        self.run_in(b, "push")
        write(os.path.join(c[0], "seed.txt"), "C's edit\n")
        self.run_in(c, "push", expect=(0, 3))
        for d in (a, b, c, a, b, c):
            self.run_in(d, "sync", expect=(0, 3))
        self.assertEqual(tree_snapshot(a[0]), tree_snapshot(b[0]))
        self.assertEqual(tree_snapshot(b[0]), tree_snapshot(c[0]))
        held = self.contents(a[0])
        self.assertIn("B's edit\n", held)
        self.assertIn("C's edit\n", held)

    def test_a_folder_deleted_here_keeps_what_others_added_to_it(self):
        a = self.device("A")
        write(os.path.join(a[0], "docs", "old.txt"), "old\n")
        self.cairn("init", a[0], "--remote", self.daemon.url + "/", check=True, env=a[1])
        self.run_in(a, "push")
        b = self.clone("B")
        write(os.path.join(b[0], "docs", "new.txt"), "added by B\n")
        self.run_in(b, "push")
        # A deletes the folder it knew, without having seen B's file.
        for name in os.listdir(os.path.join(a[0], "docs")):
            os.remove(os.path.join(a[0], "docs", name))
        os.rmdir(os.path.join(a[0], "docs"))
        self.run_in(a, "push", expect=(0, 3))
        for d in (a, b, a, b):
            self.run_in(d, "sync", expect=(0, 3))
        self.assertEqual(tree_snapshot(a[0]), tree_snapshot(b[0]))
        self.assertEqual(read(os.path.join(a[0], "docs", "new.txt")), "added by B\n")
        self.assertFalse(os.path.exists(os.path.join(a[0], "docs", "old.txt")))

    def test_a_folder_moved_there_and_deleted_here(self):
        a = self.device("A")
        write(os.path.join(a[0], "m26", "d45", "f52.txt"), "f52\n")
        write(os.path.join(a[0], "m26", "f9.txt"), "f9\n")
        self.cairn("init", a[0], "--remote", self.daemon.url + "/", check=True, env=a[1])
        self.run_in(a, "push")
        b = self.clone("B")
        os.rename(os.path.join(a[0], "m26"), os.path.join(a[0], "m95"))
        self.run_in(a, "push")
        import shutil
        shutil.rmtree(os.path.join(b[0], "m26"))
        for d in (b, a, b, a, b):
            self.run_in(d, "sync", "--allow-mass-delete", expect=(0, 3))
        self.assertEqual(tree_snapshot(a[0]), tree_snapshot(b[0]))
        for d in (a, b):
            status = self.run_in(d, "status").stdout
            self.assertIn('"in_sync": true', status, status)

    def test_conflicted_copy_names_never_collide(self):
        # Two devices that share a name make conflicted copies of one file at the same moment:
        # the name B's copy got on the server must not be taken by D's, nor D's be renamed again.
        a = self.device("A")
        write(os.path.join(a[0], "f.txt"), "v1\n")
        self.cairn("init", a[0], "--remote", self.daemon.url + "/", check=True, env=a[1])
        self.run_in(a, "push")
        b = self.clone("B")
        d = self.clone("D")
        b = (b[0], dict(b[1], CAIRN_DEVICE="laptop"))
        d = (d[0], dict(d[1], CAIRN_DEVICE="laptop"))
        write(os.path.join(a[0], "f.txt"), "A's edit\n")
        self.run_in(a, "push")
        moment = 1_790_000_000
        for dev, text in ((b, "B's edit\n"), (d, "D's edit\n")):
            path = os.path.join(dev[0], "f.txt")
            write(path, text)
            os.utime(path, (moment, moment))
        pushed = json.loads(self.run_in(b, "push", expect=(3,)).stdout)
        self.assertEqual(len(pushed["conflicts"]), 1, pushed)
        pulled = json.loads(self.run_in(d, "pull", expect=(3,)).stdout)
        self.assertEqual(len(pulled["conflicts"]), 1, pulled)
        names = sorted(n for n in os.listdir(d[0]) if n.startswith("f"))
        self.assertEqual(len(names), 3, names)
        for dev in (a, b, d, a, b, d):
            self.run_in(dev, "sync", expect=(0, 3))
        self.assertEqual(tree_snapshot(a[0]), tree_snapshot(b[0]))
        self.assertEqual(tree_snapshot(b[0]), tree_snapshot(d[0]))
        held = self.contents(a[0])
        for text in ("A's edit\n", "B's edit\n", "D's edit\n"):
            self.assertIn(text, held)

    def test_an_edit_in_the_same_instant_is_not_missed(self):
        # A second write within the file system's timestamp granularity keeps size and mtime:
        # push must still see it (the record of the first holds no mtime, see scanner.h).
        a = self.device("A")
        path = os.path.join(a[0], "f.txt")
        write(path, "one\n")
        self.cairn("init", a[0], "--remote", self.daemon.url + "/", check=True, env=a[1])
        os.utime(path, None)  # Modified now: the push records it while it is racy.
        self.run_in(a, "push")
        first = os.stat(path)
        write(path, "two\n")
        os.utime(path, ns=(first.st_atime_ns, first.st_mtime_ns))
        self.assertEqual(os.stat(path).st_mtime_ns, first.st_mtime_ns)
        pushed = json.loads(self.run_in(a, "push").stdout)
        self.assertEqual(pushed["changed"], ["f.txt"], pushed)
        b = self.clone("B")
        self.assertEqual(read(os.path.join(b[0], "f.txt")), "two\n")
