"""End-to-end: `cairn put`, `get` and `cat`, with no working copy, as a CI job or a cron backup
runs them (CAIRN_SERVER and CAIRN_TOKEN only, through the real binaries)."""

import hashlib
import json
import os
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

    def listing(self, path):
        """{name: manifest} of one folder, read in one request (one snapshot on the server)."""
        status, body = http("GET", self.daemon.url + "/v1/list?path=" + urllib.parse.quote(path),
                            token=self.token)
        self.assertEqual(status, 200, body)
        return {e["path"]: e.get("manifest") for e in json.loads(body)["entries"]}

    def test_readers_see_the_old_build_or_the_new_one_never_a_mix(self):
        build = self.path("build")
        for i in range(2000):
            write(os.path.join(build, f"f{i:04}.txt"), f"first build {i}\n")
        self.put(build, "/ci/app")
        first = self.listing("/ci/app")
        self.assertEqual(len(first), 2000)
        for i in range(2000):
            write(os.path.join(build, f"f{i:04}.txt"), f"second build {i}\n")
        os.remove(os.path.join(build, "f0007.txt"))
        write(os.path.join(build, "new.txt"), "new\n")

        seen = []
        stop = threading.Event()

        def read_loop():
            while not stop.is_set():
                seen.append(self.listing("/ci/app"))

        reader = threading.Thread(target=read_loop)
        reader.start()
        try:
            second_put = self.put(build, "/ci/app", "--delete")
        finally:
            stop.set()
            reader.join()
        second = self.listing("/ci/app")
        self.assertEqual(second_put["files_changed"], 2000)
        self.assertEqual(second_put["files_deleted"], 1)
        self.assertEqual(len(second), 2000)
        self.assertIn("/ci/app/new.txt", second)
        self.assertNotIn("/ci/app/f0007.txt", second)
        self.assertGreater(len(seen), 0)
        mixed = [s for s in seen if s != first and s != second]
        self.assertEqual(len(mixed), 0, f"{len(mixed)} of {len(seen)} listings were a mix")
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
