"""End-to-end: a cron backup job. `cairn put` a folder again and again, then read it back as it was
at any of those times (`get`, `cat`, `ls --at`), bring the server's folder back to one of them
(`restore --at`), and read who changed what (`log`), through the real binaries."""

import datetime
import json
import os
import shutil
import time

from harness import CAIRND, CairnTestCase, run, tree_snapshot, write


def read(path):
    with open(path) as f:
        return f.read()


def utc_now_ms():
    """Now as RFC 3339 to the millisecond, the way a script would note it."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class BackupTest(CairnTestCase):

    def setUp(self):
        super().setUp()
        self.env["CAIRN_SERVER"] = self.daemon.url
        self.env["XDG_CACHE_HOME"] = self.path("cache")

    def backup(self, src):
        """One run of the job: mirror `src` to /backup/docs, note the time when it is done."""
        r = self.cairn_json("put", src, "/backup/docs", "--delete", "--allow-mass-delete")
        self.assertEqual(r["errors"], [])
        return utc_now_ms(), tree_snapshot(src)

    def test_every_backup_can_be_read_back_and_restored(self):
        src = self.path("docs")
        write(os.path.join(src, "a.txt"), "a one\n")
        write(os.path.join(src, "b.txt"), "b one\n")
        write(os.path.join(src, "dir", "c.txt"), "c one\n")
        with open(os.path.join(src, "dir", "d.bin"), "wb") as f:
            f.write(os.urandom(300_000))
        os.symlink("a.txt", os.path.join(src, "link"))
        t1, s1 = self.backup(src)

        # Edits, a delete, a rename and a new file.
        write(os.path.join(src, "a.txt"), "a two\n")
        os.remove(os.path.join(src, "b.txt"))
        os.rename(os.path.join(src, "dir", "c.txt"), os.path.join(src, "dir", "c2.txt"))
        write(os.path.join(src, "e.txt"), "e two\n")
        t2, s2 = self.backup(src)
        t2_unix = str(int(time.time()))  # As `date +%s` would note it.
        # The next run more than a second later, so that a time written to the second (the end
        # of that second, as --at reads it) tells the two apart.
        time.sleep(1.2)
        t2_seconds = t2[:19] + "Z" if t2.endswith("+00:00") else t2

        # A folder goes, another comes, a file changes again and becomes executable.
        shutil.rmtree(os.path.join(src, "dir"))
        write(os.path.join(src, "f", "g.txt"), "g three\n")
        write(os.path.join(src, "a.txt"), "a three\n")
        os.chmod(os.path.join(src, "a.txt"), 0o755)
        t3, s3 = self.backup(src)
        self.assertNotEqual(s1, s2)
        self.assertNotEqual(s2, s3)

        # get --at reproduces each state byte for byte: deleted files included, later ones not.
        for i, (when, snapshot) in enumerate(
                [(t1, s1), (t2, s2), (t2_seconds, s2), (t2_unix, s2), (t3, s3)]):
            out = self.path(f"out{i}")
            got = self.cairn_json("get", "/backup/docs", out, "--at", when)
            self.assertEqual(got["errors"], [])
            self.assertEqual(tree_snapshot(out), snapshot, f"--at {when}")
        self.assertEqual(self.cairn("cat", "/backup/docs/b.txt", "--at", t1).stdout, "b one\n")
        self.assertEqual(self.cairn("cat", "/backup/docs/a.txt", "--at", t2).stdout, "a two\n")
        listed = self.cairn_json("ls", "/backup/docs/dir", "--at", t1)
        self.assertEqual({e["path"] for e in listed["entries"]},
                         {"/backup/docs/dir/c.txt", "/backup/docs/dir/d.bin"})

        # What was not there then is not found, and a bad time is refused; nothing is written.
        missing = self.cairn("get", "/backup/docs/e.txt", self.path("none"), "--at", t1)
        self.assertEqual(missing.returncode, 6, missing.stderr)
        self.assertIn("nothing was at /backup/docs/e.txt", missing.stderr)
        bad = self.cairn("get", "/backup/docs", self.path("none"), "--at", "last tuesday")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("not a time", bad.stderr)
        self.assertFalse(os.path.exists(self.path("none")))

        # restore --at the first time makes the server's folder equal to it, in one step: the
        # files made since go to the trash, deleted ones come back, old contents as new versions.
        restored = self.cairn_json("restore", "/backup/docs", "--at", t1)
        self.assertGreater(restored["changed"], 0)
        self.assertGreater(restored["deleted"], 0)
        now = self.path("now")
        self.cairn_json("get", "/backup/docs", now)
        self.assertEqual(tree_snapshot(now), s1)
        trash = {e["path"] for e in self.cairn_json("trash")["entries"]}
        self.assertTrue({"/backup/docs/e.txt", "/backup/docs/f"} <= trash, trash)
        history = self.cairn_json("history", "/backup/docs/a.txt")
        self.assertEqual(len(history["versions"]), 4)  # Nothing is lost: three puts, a restore.
        again = self.cairn_json("restore", "/backup/docs", "--at", t1)
        self.assertEqual((again["changed"], again["deleted"]), (0, 0))

        # log: every change, newest first, with who and from where.
        log = self.cairn_json("log", "/backup/docs")["entries"]  # All of it by default.
        seqs = [e["seq"] for e in log]
        self.assertEqual(seqs, sorted(seqs, reverse=True))
        self.assertEqual(len(set(seqs)), len(seqs))
        times = [e["at_ms"] for e in log]
        self.assertEqual(times, sorted(times, reverse=True))
        self.assertTrue(all(e["author"] == "alice" and e["device"] for e in log), log[:3])
        a_changes = [(e["op"], e["version"]) for e in log if e["path"] == "/backup/docs/a.txt"]
        self.assertEqual(a_changes, [("restore", 4), ("put", 3), ("put", 2), ("put", 1)])
        b_changes = [e["op"] for e in log if e["path"] == "/backup/docs/b.txt"]
        self.assertEqual(b_changes, ["restore", "delete", "put"])
        self.assertIn(("delete", "/backup/docs/dir/c.txt"), [(e["op"], e["path"]) for e in log])
        self.assertIn(("mkdir", "/backup/docs/f"), [(e["op"], e["path"]) for e in log])
        # --since leaves out what came before; --limit pages.
        recent = self.cairn_json("log", "/backup/docs", "--since", t2)["entries"]
        self.assertEqual(recent, [e for e in log if e["seq"] in {r["seq"] for r in recent}])
        self.assertTrue(all(e["at_ms"] > log[-1]["at_ms"] for e in recent))
        self.assertNotIn("/backup/docs/dir/d.bin",
                         {e["path"] for e in recent if e["op"] == "put"})
        self.assertEqual(self.cairn_json("log", "/backup/docs", "--limit", "2")["entries"],
                         log[:2])

    def test_a_remote_path_alone_names_a_folder_on_the_known_server(self):
        src = self.path("docs")
        write(os.path.join(src, "a.txt"), "a\n")
        self.backup(src)
        wc = self.path("wc")
        self.cairn_json("init", wc, "--remote", "/backup/docs")
        self.cairn_json("-C", wc, "pull")
        self.assertEqual(read(os.path.join(wc, "a.txt")), "a\n")
        self.cairn_json("-C", self.path(""), "clone", "/backup/docs", self.path("cl"))
        self.assertEqual(read(os.path.join(self.path("cl"), "a.txt")), "a\n")
        # restore --at in a working copy changes the server, then pulls.
        then = utc_now_ms()
        write(os.path.join(src, "a.txt"), "a later\n")
        self.backup(src)
        self.cairn_json("-C", wc, "pull")
        self.assertEqual(read(os.path.join(wc, "a.txt")), "a later\n")
        self.cairn_json("-C", wc, "restore", ".", "--at", then)
        self.assertEqual(read(os.path.join(wc, "a.txt")), "a\n")
        self.assertEqual(self.cairn("cat", "/backup/docs/a.txt").stdout, "a\n")
        # Without a server to go to, a clear refusal and nothing made.
        alone = {k: v for k, v in self.env.items() if k != "CAIRN_SERVER"}
        r = self.cairn("init", self.path("wc2"), "--remote", "/backup/docs", env=alone)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("needs a server", r.stderr)
        self.assertFalse(os.path.exists(self.path("wc2")))

    def test_the_log_reads_every_page(self):
        src = self.path("many")
        for i in range(1100):
            write(os.path.join(src, f"f{i:04}.txt"), f"{i}\n")
        self.cairn_json("put", src, "/backup/many")
        log = self.cairn_json("log", "/backup/many")
        self.assertEqual(len(log["entries"]), 1101)  # Every file, and the folder: 2 pages.
        self.assertEqual(log["next_before"], 0)
        self.assertEqual(len({e["seq"] for e in log["entries"]}), 1101)
        newest = self.cairn_json("log", "/backup/many", "--limit", "5")
        self.assertEqual(newest["entries"], log["entries"][:5])
        self.assertNotEqual(newest["next_before"], 0)

    def test_names_from_others_cannot_write_to_the_terminal(self):
        src = self.path("docs")
        write(os.path.join(src, "a.txt"), "a\n")
        # What an HTTP header can carry: a tab, and C1 controls as UTF-8 (CSI is U+009B).
        evil = dict(self.env, CAIRN_DEVICE="laptop\t\u009b2J\u009d0;owned")
        r = self.cairn_json("put", src, "/backup/docs", env=evil)
        self.assertEqual(r["errors"], [])
        for command in (["log", "/backup/docs"], ["history", "/backup/docs/a.txt"]):
            out = self.cairn(*command).stdout
            self.assertIn("laptop??2J?0;owned", out)
            self.assertNotIn("\u009b", out)
            self.assertNotIn("\t", out)

    def test_times_the_server_cannot_answer_for_are_refused(self):
        src = self.path("docs")
        write(os.path.join(src, "a.txt"), "a\n")
        t1, _ = self.backup(src)
        # Before anything was there: nothing to get.
        r = self.cairn("get", "/backup/docs", self.path("o"), "--at", "@1000000")
        self.assertEqual(r.returncode, 6, r.stderr)
        # Older than the retention period: said so, not answered wrongly.
        run([CAIRND, "retention", "1", "--data", self.daemon.data_dir], check=True)
        old = self.cairn("ls", "/backup/docs", "--at", "3d")
        self.assertEqual(old.returncode, 2, old.stderr)
        self.assertIn("older than this server keeps history", old.stderr)
        restore = self.cairn("restore", "/backup/docs", "--at", "3d")
        self.assertEqual(restore.returncode, 2, restore.stderr)
        # Within it, answered.
        self.assertEqual(self.cairn("cat", "/backup/docs/a.txt", "--at", t1).stdout, "a\n")
        # A read-only token reads the past but cannot restore it.
        token = run([CAIRND, "token", "create", "alice", "--data", self.daemon.data_dir,
                     "--read-only"], check=True).stdout.strip().splitlines()[-1]
        reader = dict(self.env, CAIRN_TOKEN=token)
        self.assertEqual(self.cairn("cat", "/backup/docs/a.txt", "--at", t1, env=reader).stdout,
                         "a\n")
        refused = self.cairn("restore", "/backup/docs", "--at", t1, env=reader)
        self.assertEqual(refused.returncode, 5, refused.stderr)
        # A token limited to /backup learns nothing of paths outside it from the log.
        write(self.path("secret.txt"), "s\n")
        self.cairn_json("put", self.path("secret.txt"), "/private/secret.txt")
        self.cairn_json("mv", "/private/secret.txt", "/backup/docs/secret.txt")
        scoped = run([CAIRND, "token", "create", "alice", "--data", self.daemon.data_dir,
                      "--path", "/backup"], check=True).stdout.strip().splitlines()[-1]
        log = self.cairn_json("log", "/backup/docs", env=dict(self.env, CAIRN_TOKEN=scoped))
        self.assertIn("/backup/docs/secret.txt", [e["path"] for e in log["entries"]])
        self.assertNotIn("/private", json.dumps(log))
        self.assertEqual(self.cairn("log", "/", env=dict(self.env, CAIRN_TOKEN=scoped)).returncode,
                         5)
