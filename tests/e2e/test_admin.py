"""End-to-end: the admin's cairnd commands against real data folders (issue 22).

MetadataBackupTest: `cairnd backup --to FILE` copies SQLite metadata while `serve` runs; the
copy, with the blobs, restores into a new data folder that serves what was there at the backup
and nothing later, and checks clean. With PostgreSQL metadata it refuses and points to pg_dump.

AdminJsonTest: every cairnd command's --json prints one JSON object (errors too, with the same
exit codes), bad usage exits 2, and `cairnd stats` counts what was pushed.

UserDeleteTest: `cairnd user delete` disables at once; the first gc after the grace period
purges the user, their files and what only they needed, while what they shared with others ends
as an unshare does; `user enable` before then cancels.

CompletionsTest: the shell completions know every command and subcommand the binaries do.

ObservabilityTest: /metrics has per-route latency histograms and answers loopback, or the token of
--metrics-token-file, and nobody a proxy relays; access log lines are JSON with the user and the
client address and never a token; --log-level drops what is below it.
"""
import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import threading
import time
import unittest

from harness import (CAIRN as CAIRN_BIN, CAIRND, CairnTestCase, Daemon, http, read, run, sha256, tree_snapshot,
                     write, write_random)


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


class AdminJsonTest(CairnTestCase):

    def admin(self, *args, expect=0):
        """cairnd ARGS --json: its one JSON object, after checking the exit code."""
        result = run([CAIRND, *args, "--data", self.daemon.data_dir, "--json"])
        self.assertEqual(result.returncode, expect,
                         f"cairnd {args}: exit {result.returncode}\n{result.stdout}{result.stderr}")
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 1, f"cairnd {args} --json printed {result.stdout!r}")
        return json.loads(lines[0])

    def test_every_command_prints_one_json_object(self):
        work = self.path("w")
        write_random(os.path.join(work, "a.bin"), 2_000_000, seed=1)
        shutil.copy(os.path.join(work, "a.bin"), os.path.join(work, "copy.bin"))
        write(os.path.join(work, "gone.txt"), "to the trash\n")
        self.cairn("init", work, "--remote", self.daemon.url + "/docs", check=True)
        self.cairn("-C", work, "push", check=True)
        self.cairn("-C", work, "rm", "gone.txt", check=True)

        made = self.admin("user", "add", "bob")
        self.assertEqual(made["user"], "bob")
        self.assertTrue(made["token"])
        users = {u["name"]: u for u in self.admin("user", "list")["users"]}
        self.assertEqual(set(users), {"alice", "bob"})
        self.assertEqual(users["alice"]["used_bytes"], 4_000_000 + len("to the trash\n"))
        self.assertIsNone(users["bob"]["quota_bytes"])
        self.assertFalse(users["bob"]["disabled"])
        self.assertEqual(self.admin("user", "disable", "bob"), {"user": "bob", "disabled": True})
        self.assertTrue({u["name"]: u for u in self.admin("user", "list")["users"]}["bob"]["disabled"])
        self.assertEqual(self.admin("user", "enable", "bob"), {"user": "bob", "disabled": False})
        quota = self.admin("user", "quota", "bob", "1G")
        self.assertEqual((quota["quota_bytes"], quota["used_bytes"]), (1 << 30, 0))
        token = self.admin("token", "create", "bob", "--label", "ci", "--read-only")
        listed = self.admin("token", "list", "bob")["tokens"]
        ci = [t for t in listed if t["label"] == "ci"][0]
        self.assertTrue(ci["read_only"])
        self.assertEqual(ci["kind"], "api")
        self.assertIsNone(ci["revoked"])
        self.assertEqual(self.admin("token", "revoke", "bob", str(ci["id"]))["revoked"], True)
        status, _ = http("GET", self.daemon.url + "/v1/whoami", token=token["token"])
        self.assertEqual(status, 401)

        stats = self.admin("stats")
        self.assertEqual((stats["users"], stats["files"]), (2, 2))
        self.assertEqual(stats["current_bytes"], 4_000_000)
        self.assertEqual((stats["trash_items"], stats["trash_bytes"]), (1, len("to the trash\n")))
        # Two files of the same bytes: every chunk is stored once.
        self.assertGreater(stats["dedup_ratio"], 1.9)
        self.assertLess(stats["chunk_bytes"], 2_100_000)
        self.assertGreater(stats["stored_bytes"], 0)
        self.assertEqual(stats["stored_bytes"], stats["pack_bytes"] + stats["loose_bytes"])
        self.assertRegex(stats["oldest_version"], r"^\d{4}-\d\d-\d\dT")
        self.assertEqual(self.admin("retention", "30")["retention_days"], 30)
        self.assertEqual(self.admin("retention", "all")["retention_days"], None)
        gc = self.admin("gc", "--grace", "0s")
        self.assertEqual(gc["problems"], [])
        self.assertIn("chunks_deleted", gc)
        self.assertTrue(self.admin("check")["clean"])
        self.assertIn("schema_version", self.admin("migrate"))
        if self.daemon.backends.postgres is None:
            backup = self.admin("backup", "--to", self.path("meta.db"))
            self.assertGreater(backup["bytes"], 0)
            self.assertEqual(backup["file"], self.path("meta.db"))

        # Errors: the same exit codes as without --json, the error as JSON on stdout.
        taken = self.admin("user", "add", "bob", expect=3)
        self.assertEqual(taken["error"]["code"], "already_exists")
        unknown = self.admin("user", "quota", "nobody", expect=1)
        self.assertEqual(unknown["error"]["code"], "not_found")
        bad = self.admin("user", "quota", "bob", "lots", expect=2)
        self.assertEqual(bad["error"]["code"], "invalid_argument")

    def test_init_and_serve_print_json_and_bad_usage_exits_2(self):
        data = self.path("second")
        made = json.loads(run([CAIRND, "init", "--data", data, "--json"], check=True).stdout)
        self.assertEqual(made["data"], data)
        self.assertIn("min", made["chunking"])
        proc = subprocess.Popen([CAIRND, "serve", "--data", data, "--listen", "127.0.0.1:0",
                                 "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        try:
            url = json.loads(proc.stdout.readline())["listening"]
            self.assertEqual(http("GET", url + "/healthz")[0], 200)
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=20), 0)
            proc.stdout.close()
        for args in (["--bogus"], ["user", "add"], ["stats", "extra"], ["serve", "--log-level",
                                                                       "loud"], []):
            result = run([CAIRND, *args, "--data", data])
            self.assertEqual(result.returncode, 2, f"cairnd {args}: {result.stderr}")


class UserDeleteTest(CairnTestCase):

    def admin(self, *args, expect=0):
        result = run([CAIRND, *args, "--data", self.daemon.data_dir, "--json"])
        self.assertEqual(result.returncode, expect,
                         f"cairnd {args}: exit {result.returncode}\n{result.stdout}{result.stderr}")
        return json.loads(result.stdout)

    def as_user(self, token, name):
        return dict(self.env, CAIRN_TOKEN=token, CAIRN_CONFIG=self.path(name + "-config"),
                    CAIRN_SERVER=self.daemon.url)

    def whoami(self, token):
        return http("GET", self.daemon.url + "/v1/whoami", token=token)[0]

    def users(self):
        return {u["name"]: u for u in self.admin("user", "list")["users"]}

    def test_grace_period_cancel_purge_and_shares(self):
        self.env["CAIRN_SERVER"] = self.daemon.url
        carol_token = self.daemon.add_user("carol")
        bob_token = self.daemon.add_user("bob")  # The newest: SQLite gives his id out again.
        bob, carol = self.as_user(bob_token, "bob"), self.as_user(carol_token, "carol")
        docs = self.path("docs")
        write(os.path.join(docs, "notes.txt"), "alice's notes\n")
        write_random(os.path.join(docs, "shared.bin"), 1_500_000, seed=5)
        self.cairn("init", docs, "--remote", self.daemon.url + "/docs", check=True)
        self.cairn("-C", docs, "push", check=True)
        # Bob's own files, and a file he adds to the folder alice shares with him.
        mine = self.path("bob-mine")
        write_random(os.path.join(mine, "only-bob.bin"), 1_200_000, seed=6)
        run([CAIRN_BIN, "init", mine, "--remote", "/mine"], env=bob, check=True)
        run([CAIRN_BIN, "-C", mine, "push"], env=bob, check=True)
        self.cairn("share", "/docs", "bob", "--role", "editor", check=True)
        run([CAIRN_BIN, "put", self.path("docs", "notes.txt"), "/Shared/docs/from-bob.txt"],
            env=bob, check=True)
        # Bytes only bob ever had: after his purge alice must still read them.
        write_random(self.path("bob-own.bin"), 900_000, seed=7)
        run([CAIRN_BIN, "put", self.path("bob-own.bin"), "/Shared/docs/bob-own.bin"],
            env=bob, check=True)
        before = self.admin("stats")

        # Alice shares /docs: deleting her is refused until asked for, and changes nothing.
        refused = self.admin("user", "delete", "alice", expect=3)
        self.assertIn("/docs with bob (editor)", refused["error"]["message"])
        self.assertEqual(self.whoami(self.token), 200)
        self.assertIsNone(self.users()["alice"]["delete_after"])

        # Bob only has a share with him: no question asked. Disabled at once.
        scheduled = self.admin("user", "delete", "bob", "--grace", "0")
        self.assertEqual(scheduled["shares_ending"], [])
        self.assertEqual(self.whoami(bob_token), 401)
        self.assertIsNotNone(self.users()["bob"]["delete_after"])
        # Enabled again before gc: cancelled, his token works.
        self.admin("user", "enable", "bob")
        self.assertIsNone(self.users()["bob"]["delete_after"])
        self.assertEqual(self.whoami(bob_token), 200)
        # A gc inside the grace period purges nobody.
        self.admin("user", "delete", "bob", "--grace", "30d")
        self.assertEqual(self.admin("gc", "--grace", "0s")["users_deleted"], [])
        self.assertIn("bob", self.users())

        self.admin("user", "delete", "bob", "--grace", "0")
        time.sleep(1.1)  # gc keeps chunks stored in its own second (its cutoff is in seconds).
        gc = self.admin("gc", "--grace", "0s")
        self.assertEqual(gc["users_deleted"], ["bob"])
        self.assertGreater(gc["chunks_deleted"], 0, "bob's own chunks are freed")
        self.assertNotIn("bob", self.users())
        after = self.admin("stats")
        self.assertEqual(after["users"], before["users"] - 1)
        self.assertLess(after["chunk_bytes"], before["chunk_bytes"] - 1_000_000)
        # Alice keeps everything in her folder, the file bob added to it too.
        clone = self.path("clone")
        self.cairn("clone", self.daemon.url + "/docs", clone, check=True)
        self.assertEqual(read(os.path.join(clone, "from-bob.txt")), "alice's notes\n")
        self.assertEqual(read(os.path.join(clone, "notes.txt")), "alice's notes\n")
        with open(self.path("bob-own.bin"), "rb") as f:
            self.assertEqual(sha256(open(os.path.join(clone, "bob-own.bin"), "rb").read()),
                             sha256(f.read()))
        self.assertTrue(self.admin("check", "--read-data")["clean"])
        # The name is free again, for a new user with nothing (on SQLite, with bob's old id):
        # they neither hold bob's chunks nor pass for the author of what he wrote.
        new_bob = self.admin("user", "add", "bob")["token"]
        if self.daemon.backends.postgres is None:
            with sqlite3.connect(os.path.join(self.daemon.data_dir, "metadata.db")) as db:
                ids = dict(db.execute("SELECT name, user_id FROM users"))
            self.assertEqual(ids["bob"], ids["carol"] + 1, ids)  # bob's old id.
        new_env = self.as_user(new_bob, "new-bob")
        listing = json.loads(run([CAIRN_BIN, "ls", "/", "--json"], env=new_env,
                                 check=True).stdout)
        self.assertEqual(listing["entries"], [])
        history = json.loads(run([CAIRN_BIN, "history", "/docs/bob-own.bin", "--json"],
                                 check=True, env=self.env).stdout)
        self.assertEqual([v["author"] for v in history["versions"]], [""])
        self.assertIn("(deleted user)@", run([CAIRN_BIN, "history", "/docs/bob-own.bin"],
                                             check=True, env=self.env).stdout)
        self.assertEqual(self.admin("gc", "--grace", "0s")["chunks_deleted"], 0)
        self.cairn("-C", clone, "pull", check=True)
        cat = subprocess.run([CAIRN_BIN, "cat", "/docs/bob-own.bin"], env=self.env,
                             capture_output=True, check=True)
        with open(self.path("bob-own.bin"), "rb") as f:
            self.assertEqual(sha256(cat.stdout), sha256(f.read()))

        # Alice shares with carol, who has a working copy; alice is deleted with --end-shares.
        self.cairn("share", "/docs", "carol", "--role", "viewer", check=True)
        carols = self.path("carol-all")
        run([CAIRN_BIN, "clone", self.daemon.url + "/", carols], env=carol, check=True)
        self.assertEqual(tree_snapshot(os.path.join(carols, "Shared", "docs")),
                         tree_snapshot(clone))
        ending = self.admin("user", "delete", "alice", "--grace", "0", "--end-shares")
        self.assertEqual([(e["user"], e["role"]) for e in ending["shares_ending"]],
                         [("carol", "viewer")])
        self.assertEqual(self.admin("gc", "--grace", "0s")["users_deleted"], ["alice"])
        self.assertEqual(self.whoami(self.token), 401)
        # Carol's next pull keeps what she had, as her own; the server has no share left.
        run([CAIRN_BIN, "-C", carols, "pull"], env=carol, check=True)
        self.assertEqual(read(os.path.join(carols, "Shared", "docs", "notes.txt")),
                         "alice's notes\n")
        shares = json.loads(run([CAIRN_BIN, "shares", "--json"], env=carol, check=True).stdout)
        self.assertEqual(shares["shares"], [])
        stats = self.admin("stats")
        self.assertEqual(stats["users"], 2)  # carol and the new bob
        self.assertEqual(stats["files"], 0)
        self.assertTrue(self.admin("check", "--read-data")["clean"])
        self.assertEqual(self.admin("user", "delete", "nobody", expect=1)["error"]["code"],
                         "not_found")
        self.assertEqual(self.admin("user", "delete", "carol", "--grace", "soon",
                                    expect=2)["error"]["code"], "invalid_argument")


COMPLETIONS = os.path.join(os.path.dirname(__file__), "..", "..", "completions")


def subcommands(binary, *words):
    """The subcommand names `binary WORDS --help` lists."""
    text = run([binary, *words, "--help"], check=True).stdout
    if "Subcommands:" not in text:
        return []
    return [line.split()[0] for line in text.split("Subcommands:")[1].splitlines()
            if line.startswith("  ") and line.strip()]


class CompletionsTest(unittest.TestCase):

    def test_every_command_is_completed_in_every_shell(self):
        files = {name: open(os.path.join(COMPLETIONS, name)).read()
                 for name in ("cairn.bash", "_cairn", "cairn.fish")}
        # The part of each file about cairnd, and the part about cairn.
        marks = {"cairn.bash": "_cairnd()", "_cairn": "_cairnd_cmd()", "cairn.fish": "cairnd_cmds"}
        daemon = {f: files[f].split(mark, 1)[1] for f, mark in marks.items()}
        client = {f: files[f].split(mark, 1)[0] for f, mark in marks.items()}
        cases = [(CAIRN_BIN, client, []), (CAIRND, daemon, []), (CAIRND, daemon, ["user"]),
                 (CAIRND, daemon, ["token"])]
        for binary, texts, words in cases:
            names = subcommands(binary, *words)
            self.assertTrue(names, f"{binary} {words} lists subcommands")
            for shell, text in texts.items():
                for name in names:
                    self.assertRegex(text, r"(?<![\w-])" + name + r"(?![\w-])",
                                     f"{shell} does not complete {os.path.basename(binary)} "
                                     f"{' '.join(words + [name])}")


class ObservabilityTest(CairnTestCase):

    def setUp(self):
        super().setUp()
        self.daemon.stop()
        self.metrics_token = "metrics-" + "x" * 24
        self.token_file = self.path("metrics.token")
        write(self.token_file, self.metrics_token + "\n")
        os.chmod(self.token_file, 0o600)
        self.daemon.start("--metrics-token-file", self.token_file)

    def test_metrics_histograms_and_who_may_read_them(self):
        work = self.path("w")
        write(os.path.join(work, "a.txt"), "a\n")
        self.cairn("init", work, "--remote", self.daemon.url + "/docs", check=True)
        self.cairn("-C", work, "push", check=True)
        status, body = http("GET", self.daemon.url + "/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertIn("# TYPE cairnd_request_duration_seconds histogram", text)
        commit = 'cairnd_request_duration_seconds_count{method="POST",route="/v1/commit"} '
        self.assertIn(commit, text)
        self.assertGreaterEqual(int(text.split(commit)[1].split()[0]), 1)
        self.assertIn('route="/v1/commit",le="+Inf"}', text)
        self.assertIn("cairnd_commits_total", text)
        # Relayed by a proxy: not a loopback client, whatever the socket says.
        relayed = {"X-Forwarded-For": "203.0.113.9"}
        self.assertEqual(http("GET", self.daemon.url + "/metrics", headers=relayed)[0], 403)
        self.assertEqual(http("GET", self.daemon.url + "/metrics", token="wrong" * 6,
                              headers=relayed)[0], 403)
        self.assertEqual(http("GET", self.daemon.url + "/metrics", token=self.token,
                              headers=relayed)[0], 403, "a user's token is not the metrics token")
        self.assertEqual(http("GET", self.daemon.url + "/metrics", token=self.metrics_token,
                              headers=relayed)[0], 200)
        self.assertEqual(http("GET", self.daemon.url + "/healthz", headers=relayed)[0], 200)

    def test_a_token_file_others_can_read_is_refused(self):
        for mode in (0o644, 0o660, 0o604):
            os.chmod(self.token_file, mode)
            result = run([CAIRND, "serve", "--data", self.daemon.data_dir, "--listen",
                          "127.0.0.1:0", "--metrics-token-file", self.token_file])
            self.assertEqual(result.returncode, 2, f"{oct(mode)}: {result.stderr}")
            self.assertIn("chmod 600", result.stderr)
        # Readable by a group (the service's own, say) is fine.
        os.chmod(self.token_file, 0o640)
        self.daemon.stop()
        self.daemon.start("--metrics-token-file", self.token_file)
        self.assertEqual(http("GET", self.daemon.url + "/metrics", token=self.metrics_token,
                              headers={"X-Forwarded-For": "203.0.113.9"})[0], 200)

    def log_lines(self):
        with open(self.daemon.stderr_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def test_access_log_lines_name_the_user_and_address_never_the_token(self):
        http("GET", self.daemon.url + "/v1/whoami", token=self.token)
        http("GET", self.daemon.url + "/v1/whoami", token="not-a-token")
        self.daemon.stop()
        lines = self.log_lines()  # Every line parses as JSON.
        for line in lines:
            self.assertIn(line["level"], ("debug", "info", "warn", "error"))
            self.assertRegex(line["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        whoami = [l for l in lines if l["event"] == "request" and l["path"] == "/v1/whoami"]
        self.assertEqual([(l["status"], l["user"]) for l in whoami], [(200, "alice"), (401, "")])
        self.assertTrue(all(l["addr"] == "127.0.0.1" for l in whoami))
        self.assertIn("start", [l["event"] for l in lines])
        self.assertEqual(lines[-1]["event"], "stop")
        with open(self.daemon.stderr_path) as f:
            text = f.read()
        self.assertNotIn(self.token, text)
        self.assertNotIn(self.metrics_token, text)

        # A malformed head after a good request on the same connection is logged as itself.
        os.unlink(self.daemon.stderr_path)
        self.daemon.start()
        host, port = self.daemon.url.split("//")[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                         self.token.encode() + b"\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += conn.recv(4096)
            self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)
            conn.sendall(b"NOT A REQUEST\x01\r\n\r\n")
            while conn.recv(4096):
                pass
        self.daemon.stop()
        bad = [l for l in self.log_lines() if l["event"] == "request" and l["status"] == 400]
        self.assertEqual(len(bad), 1, self.log_lines())
        self.assertEqual((bad[0]["path"], bad[0]["user"]), ("", ""))

        # At warn, requests are not logged.
        os.unlink(self.daemon.stderr_path)
        self.daemon.start("--log-level", "warn")
        http("GET", self.daemon.url + "/v1/whoami", token=self.token)
        self.daemon.stop()
        self.assertEqual([l for l in self.log_lines() if l["level"] == "info"], [])


if __name__ == "__main__":
    unittest.main()
