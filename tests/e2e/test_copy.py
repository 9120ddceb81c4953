"""End-to-end: `cairn put`, `get` and `cat`, with no working copy, as a CI job or a cron backup
runs them (CAIRN_SERVER and CAIRN_TOKEN only, through the real binaries)."""

import hashlib
import json
import os
import shutil
import subprocess
import threading
import urllib.parse

from harness import CAIRN, CAIRND, CairnTestCase, http, make_tree, run, tree_snapshot, write


class CopyTest(CairnTestCase):

    def setUp(self):
        super().setUp()
        self.env["CAIRN_SERVER"] = self.daemon.url
        self.env["XDG_CACHE_HOME"] = self.path("cache")

    def put(self, *args, expect_exit=0, env=None):
        return self.cairn_json("put", *args, expect_exit=expect_exit, env=env)

    def get(self, *args, expect_exit=0, env=None):
        return self.cairn_json("get", *args, expect_exit=expect_exit, env=env)

    def cat(self, path, env=None):
        """`cairn cat PATH`'s exit code and the bytes it wrote."""
        r = subprocess.run([CAIRN, "cat", path], env=env or self.env, capture_output=True,
                           timeout=600)
        return r.returncode, r.stdout

    def token_for(self, *flags):
        out = run([CAIRND, "token", "create", "alice", "--data", self.daemon.data_dir, *flags],
                  check=True)
        return out.stdout.strip().splitlines()[-1]

    def test_a_tree_goes_up_and_comes_back_the_same(self):
        src = self.path("build")
        make_tree(src, files=300, big_size=6 << 20)
        os.utime(os.path.join(src, "empty.txt"), ns=(1_600_000_000_000_000_000,) * 2)
        first = self.put(src, "/ci/b1")
        self.assertEqual(first["errors"], [])
        self.assertGreater(first["chunks_sent"], 300)
        # Nothing of Cairn's is left in the source.
        self.assertFalse(os.path.exists(os.path.join(src, ".cairn")))

        out = self.path("out")
        got = self.get("/ci/b1", out)
        self.assertEqual(got["errors"], [])
        self.assertEqual(tree_snapshot(out), tree_snapshot(src))
        self.assertEqual(os.stat(os.path.join(out, "empty.txt")).st_mtime_ns,
                         1_600_000_000_000_000_000)
        self.assertFalse([n for n in os.listdir(out) if n.startswith(".cairn")])

        # cat writes the file's bytes, large ones too.
        code, data = self.cat("/ci/b1/big/big.bin")
        self.assertEqual(code, 0)
        with open(os.path.join(src, "big", "big.bin"), "rb") as f:
            self.assertEqual(hashlib.sha256(data).digest(), hashlib.sha256(f.read()).digest())

        # The same build again: no chunk travels and no file gets a new version.
        again = self.put(src, "/ci/b1")
        self.assertEqual((again["chunks_sent"], again["files_changed"]), (0, 0))
        self.assertEqual(again["chunks_deduplicated"], again["chunks_total"])

        # A rebuild with one file changed sends that file's chunk and makes one new version.
        write(os.path.join(src, "dir3", "sub3", "file 3.txt"), "rebuilt\n")
        rebuilt = self.put(src, "/ci/b1")
        self.assertEqual(rebuilt["files_changed"], 1)
        self.assertEqual(rebuilt["chunks_sent"], 1)
        history = self.cairn_json("history", "/ci/b1/dir3/sub3/file 3.txt")
        self.assertEqual(len(history["versions"]), 2)
        # get replaces the file it wrote before, and only that.
        self.get("/ci/b1", out)
        self.assertEqual(tree_snapshot(out), tree_snapshot(src))

    def test_where_copies_go_depends_on_the_arguments_alone(self):
        a = self.path("a.txt")
        write(a, "a\n")
        write(self.path("dir", "b.txt"), "b\n")
        self.put(a, "/ci/exact.txt")
        self.put(a, "/ci/inside/")
        self.put(a, self.path("dir"), "/ci/both")
        self.put(a, "/ci/exact.txt")  # A second run lands in the same place.
        names = {e["path"] for e in self.cairn_json("ls", "/ci")["entries"]}
        self.assertEqual(names, {"/ci/exact.txt", "/ci/inside", "/ci/both"})
        self.assertEqual(
            {e["path"] for e in self.cairn_json("ls", "/ci/both")["entries"]},
            {"/ci/both/a.txt", "/ci/both/dir"})
        self.assertEqual(self.cairn_json("ls", "/ci/inside")["entries"][0]["path"],
                         "/ci/inside/a.txt")
        self.get("/ci/exact.txt", self.path("got", "one.txt"))
        self.get("/ci/exact.txt", "/ci/both/dir", self.path("got") + "/")
        self.assertEqual(sorted(os.listdir(self.path("got"))), ["dir", "exact.txt", "one.txt"])
        self.assertEqual(sorted(os.listdir(self.path("got", "dir"))), ["b.txt"])

    def test_scoped_and_read_only_tokens(self):
        src = self.path("build")
        write(os.path.join(src, "app.bin"), "app\n")
        ci = dict(self.env, CAIRN_TOKEN=self.token_for("--path", "/ci"))
        self.put(src, "/ci/app", env=ci)
        refused = self.put(src, "/elsewhere/app", expect_exit=5, env=ci)
        self.assertIn("error", refused)
        reader = dict(self.env, CAIRN_TOKEN=self.token_for("--read-only"))
        self.put(src, "/ci/app2", expect_exit=5, env=reader)
        self.get("/ci/app", self.path("out"), env=reader)
        self.assertEqual(tree_snapshot(self.path("out")), tree_snapshot(src))
        self.assertNotIn("/ci/app2", {e["path"] for e in self.cairn_json("ls", "/ci")["entries"]})

    def test_bad_input_gets_a_clear_error_and_changes_nothing(self):
        write(self.path("a.txt"), "a\n")
        self.put(self.path("a.txt"), "/ci/a.txt")
        cases = [
            (["put", self.path("a.txt"), "ci/x"], 2, "start with '/'"),
            (["put", self.path("missing"), "/ci/x"], 6, "missing"),
            (["put", self.path("a.txt"), "/ci/../x"], 2, ""),
            (["get", "/ci/missing", self.path("o")], 6, ""),
            (["get", "relative", self.path("o")], 2, "start with '/'"),
            (["cat", "/ci"], 2, "is a folder"),
            (["cat", "/ci/missing"], 6, ""),
        ]
        for args, code, message in cases:
            r = self.cairn(*args)
            self.assertEqual(r.returncode, code, f"{args}: {r.stdout}{r.stderr}")
            self.assertIn(message, r.stderr)
        self.assertEqual({e["path"] for e in self.cairn_json("ls", "/ci")["entries"]},
                         {"/ci/a.txt"})
        self.assertFalse(os.path.exists(self.path("o")))
        self.assertEqual(self.cat("/ci/a.txt"), (0, b"a\n"))

    def test_get_never_writes_through_a_symlink_at_the_destination(self):
        write(self.path("src", "sub", "f.txt"), "secret\n")
        self.put(self.path("src"), "/ci/s")
        out, elsewhere = self.path("out"), self.path("elsewhere")
        os.makedirs(out)
        os.makedirs(elsewhere)
        os.symlink(elsewhere, os.path.join(out, "sub"))
        r = self.cairn("get", "/ci/s", out, "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(os.listdir(elsewhere), [])
        self.assertTrue(os.path.islink(os.path.join(out, "sub")))

    def listing(self, path, recursive=False):
        """{path: manifest} of a folder (with `recursive`, of everything below it), read in one
        request (one snapshot on the server)."""
        query = "path=" + urllib.parse.quote(path) + ("&recursive=1" if recursive else "")
        status, body = http("GET", self.daemon.url + "/v1/list?" + query, token=self.token)
        self.assertEqual(status, 200, body)
        return {e["path"]: e.get("manifest") for e in json.loads(body)["entries"]}

    def test_readers_see_the_old_build_or_the_new_one_never_a_mix(self):
        build = self.path("build")
        for i in range(2000):
            write(os.path.join(build, f"d{i % 2}", f"f{i:04}.txt"), f"first build {i}\n")
        self.put(build, "/ci/app")
        first = self.listing("/ci/app", recursive=True)
        self.assertEqual(len(first), 2002)
        shutil.copytree(build, self.path("build1"))
        for i in range(2000):
            write(os.path.join(build, f"d{i % 2}", f"f{i:04}.txt"), f"second build {i}\n")
        os.remove(os.path.join(build, "d1", "f0007.txt"))
        write(os.path.join(build, "new.txt"), "new\n")

        listed, got = [], []
        stop = threading.Event()

        def list_loop():
            while not stop.is_set():
                listed.append(self.listing("/ci/app", recursive=True))

        def get_loop():
            n = 0
            while not stop.is_set():
                out = self.path(f"got{n}")
                r = self.cairn("get", "/ci/app", out, "--json")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                got.append(tree_snapshot(out))
                n += 1

        readers = [threading.Thread(target=list_loop), threading.Thread(target=get_loop)]
        for t in readers:
            t.start()
        try:
            second_put = self.put(build, "/ci/app", "--delete")
        finally:
            stop.set()
            for t in readers:
                t.join()
        second = self.listing("/ci/app", recursive=True)
        self.assertEqual(second_put["files_changed"], 2000)
        self.assertEqual(second_put["files_deleted"], 1)
        self.assertEqual(len(second), 2002)
        self.assertIn("/ci/app/new.txt", second)
        self.assertNotIn("/ci/app/d1/f0007.txt", second)
        self.assertGreater(len(listed), 0)
        mixed = [s for s in listed if s != first and s != second]
        self.assertEqual(len(mixed), 0, f"{len(mixed)} of {len(listed)} listings were a mix")
        builds = (tree_snapshot(self.path("build1")), tree_snapshot(build))
        self.assertGreater(len(got), 0)
        self.assertEqual([g in builds for g in got], [True] * len(got))
        # A read-only token gets the new build byte for byte.
        reader_env = dict(self.env, CAIRN_TOKEN=self.token_for("--read-only"))
        self.get("/ci/app", self.path("out"), env=reader_env)
        self.assertEqual(tree_snapshot(self.path("out")), tree_snapshot(build))

    def test_delete_mirrors_the_source_and_is_guarded(self):
        src = self.path("src")
        for i in range(10):
            write(os.path.join(src, "d", f"f{i}.txt"), f"{i}\n")
        self.put(src, "/m")
        os.remove(os.path.join(src, "d", "f0.txt"))
        kept = self.put(src, "/m")  # Without --delete nothing goes.
        self.assertEqual(kept["files_deleted"], 0)
        self.assertIn("/m/d/f0.txt", self.listing("/m/d"))
        mirrored = self.put(src, "/m", "--delete")
        self.assertEqual(mirrored["files_deleted"], 1)
        self.assertNotIn("/m/d/f0.txt", self.listing("/m/d"))
        # The destination folder keeps its mode (a mirror once made it 0644: unusable as a folder).
        top = [e for e in self.cairn_json("ls", "/")["entries"] if e["path"] == "/m"]
        self.assertEqual(top[0]["mode"], "0755")
        trash = self.cairn_json("trash")
        self.assertIn("/m/d/f0.txt", {e["path"] for e in trash["entries"]})

        for i in range(1, 9):
            os.remove(os.path.join(src, "d", f"f{i}.txt"))
        refused = self.put(src, "/m", "--delete", expect_exit=2)
        self.assertIn("--allow-mass-delete", refused["error"]["message"])
        self.assertEqual(len(self.listing("/m/d")), 9)
        done = self.put(src, "/m", "--delete", "--allow-mass-delete")
        self.assertEqual(done["files_deleted"], 8)
        self.assertEqual(set(self.listing("/m/d")), {"/m/d/f9.txt"})

    def test_a_repeated_put_of_an_unchanged_tree_is_a_stat_pass(self):
        src = self.path("src")
        for i in range(50):
            write(os.path.join(src, f"f{i}.txt"), f"{i:04}\n")
        old = 1_700_000_000_000_000_000  # Long ago: no file is "racily clean".
        for name in os.listdir(src):
            os.utime(os.path.join(src, name), ns=(old, old))
        self.put(src, "/s")
        self.assertTrue(os.path.exists(self.path("cache", "cairn", "put.db")))
        # Rewritten in place with the same size, inode and times: by its stat the file did not
        # change, and put does not read it (git and rsync decide the same way).
        victim = os.path.join(src, "f7.txt")
        with open(victim, "r+") as f:
            f.write("XXXX")
        os.utime(victim, ns=(old, old))
        again = self.put(src, "/s")
        self.assertEqual((again["files_changed"], again["chunks_sent"]), (0, 0))
        self.assertEqual(self.cat("/s/f7.txt"), (0, b"0007\n"))
        # Without the cache every file is read again, and the change is found.
        fresh = self.put(src, "/s", env=dict(self.env, XDG_CACHE_HOME=self.path("cache2")))
        self.assertEqual(fresh["changed"], ["/s/f7.txt"])
        self.assertEqual(self.cat("/s/f7.txt"), (0, b"XXXX\n"))
