"""End-to-end: folders shared between users (viewer and editor roles), token scopes, and a table
of every endpoint against every kind of caller, through the real binaries and plain HTTP."""

import io
import json
import os
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import (ONE_CHUNK, CAIRND, CairnTestCase, http, make_tree, read, run, sha256,
                     tree_snapshot, write)


class SharingTest(CairnTestCase):

    def setUp(self):
        super().setUp()
        self.bob_token = self.daemon.add_user("bob")
        self.env_bob = dict(self.env, CAIRN_TOKEN=self.bob_token, CAIRN_DEVICE="bobs-laptop",
                            CAIRN_CONFIG=self.path("bob-config"))

    def alice(self, *args, expect_exit=0):
        return self.cairn_json(*args, expect_exit=expect_exit,
                               env=dict(self.env, CAIRN_SERVER=self.daemon.url))

    def bob(self, *args, expect_exit=0):
        return self.cairn_json(*args, expect_exit=expect_exit,
                               env=dict(self.env_bob, CAIRN_SERVER=self.daemon.url))

    def test_viewer_then_editor_then_gone(self):
        a, b = self.path("a"), self.path("b")
        write(os.path.join(a, "notes.txt"), "alice's notes\n")
        write(os.path.join(a, "src", "main.c"), "int main() { return 0; }\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/proj", check=True)
        self.cairn_json("-C", a, "push")

        shared = self.alice("share", "/proj", "bob", "--role", "viewer")
        self.assertEqual((shared["user"], shared["role"]), ("bob", "viewer"))
        listed = self.bob("ls", "/Shared")
        self.assertEqual(listed["entries"][0]["path"], "/Shared/proj")
        self.assertEqual(listed["entries"][0]["share"], {"role": "viewer", "owner": "alice"})
        mine = self.bob("shares")["shares"]
        self.assertEqual([(s["path"], s["owner"], s["role"]) for s in mine],
                         [("/Shared/proj", "alice", "viewer")])

        # Bob's working copy of his whole tree holds alice's folder, byte for byte.
        self.cairn_json("clone", self.daemon.url + "/", b, env=self.env_bob)
        self.assertEqual(tree_snapshot(os.path.join(b, "Shared", "proj")), tree_snapshot(a))

        # Alice's edit reaches him through an ordinary pull.
        write(os.path.join(a, "notes.txt"), "alice's notes, second draft\n")
        self.cairn_json("-C", a, "push")
        self.cairn_json("-C", b, "pull", env=self.env_bob)
        self.assertEqual(read(os.path.join(b, "Shared", "proj", "notes.txt")),
                         "alice's notes, second draft\n")

        # As a viewer his edits stay with him: reported, listed by status, never sent.
        write(os.path.join(b, "Shared", "proj", "notes.txt"), "bob was here\n")
        write(os.path.join(b, "Shared", "proj", "bob.txt"), "new from bob\n")
        write(os.path.join(b, "todo.txt"), "bob's own file\n")
        # The rest is sent; the refused changes make it exit 3, which a script can see.
        pushed = self.cairn_json("-C", b, "push", env=self.env_bob, expect_exit=3)
        self.assertEqual(pushed["changes_unsent"], 2)
        kept = "\n".join(pushed["skipped"])
        self.assertIn("Shared/proj/notes.txt: not pushed: alice shares /Shared/proj with you as "
                      "a viewer", kept)
        self.assertIn("Shared/proj/bob.txt", kept)
        status = self.cairn_json("-C", b, "status", env=self.env_bob)
        self.assertIn("Shared/proj/notes.txt", json.dumps(status))
        self.assertEqual(read(os.path.join(b, "Shared", "proj", "notes.txt")), "bob was here\n")
        self.assertEqual(self.bob("ls", "/todo.txt")["entries"][0]["path"], "/todo.txt")
        pulled = self.cairn_json("-C", a, "pull")
        self.assertEqual(pulled["files_changed"], 0)
        self.assertEqual(read(os.path.join(a, "notes.txt")), "alice's notes, second draft\n")

        # Over HTTP a viewer's write is a 403 that names the role.
        status_code, body = http("POST", self.daemon.url + "/v1/commit",
                                 json.dumps({"ops": [{"op": "mkdir",
                                                      "path": "/Shared/proj/x"}]}).encode(),
                                 token=self.bob_token)
        self.assertEqual(status_code, 403, body)
        self.assertIn("viewer", json.loads(body)["error"]["message"])

        # Made an editor, his next push goes through and alice pulls it.
        self.alice("share", "/proj", "bob", "--role", "editor")
        pushed = self.cairn_json("-C", b, "push", env=self.env_bob)
        self.assertEqual([s for s in pushed["skipped"] if "not pushed" in s], [])
        self.cairn_json("-C", a, "pull")
        self.assertEqual(read(os.path.join(a, "bob.txt")), "new from bob\n")
        self.assertEqual(read(os.path.join(a, "notes.txt")), "bob was here\n")
        history = self.alice("history", "/proj/notes.txt")
        self.assertEqual([v["author"] for v in history["versions"]], ["bob", "alice", "alice"])

        # He moves the folder within his tree: the share follows, alice sees no change.
        self.cairn_json("-C", b, "mv", "Shared/proj", "work/proj", env=self.env_bob)
        write(os.path.join(b, "work", "proj", "later.txt"), "after the move\n")
        self.cairn_json("-C", b, "push", env=self.env_bob)
        self.cairn_json("-C", a, "pull")
        self.assertEqual(read(os.path.join(a, "later.txt")), "after the move\n")
        self.assertEqual(self.alice("ls", "/proj/later.txt")["entries"][0]["path"],
                         "/proj/later.txt")

        # Taken away: his next pull says so and leaves the files where they are, his own now
        # and no longer synced.
        self.alice("unshare", "/proj", "bob")
        pulled = self.cairn_json("-C", b, "pull", env=self.env_bob)
        self.assertEqual(pulled["shares_ended"], ["work/proj"])
        self.assertEqual(read(os.path.join(b, "work", "proj", "later.txt")), "after the move\n")
        self.assertEqual(self.bob("shares")["shares"], [])
        self.bob("ls", "/work/proj", expect_exit=6)

    def test_a_viewer_moves_the_shared_folder_with_plain_mv(self):
        a, b = self.path("a"), self.path("b")
        write(os.path.join(a, "notes.txt"), "alice's notes\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/proj", check=True)
        self.cairn_json("-C", a, "push")
        self.alice("share", "/proj", "bob", "--role", "viewer")
        self.cairn_json("clone", self.daemon.url + "/", b, env=self.env_bob)
        before = self.alice("ls", "/proj")

        os.makedirs(os.path.join(b, "mine"))
        os.rename(os.path.join(b, "Shared", "proj"), os.path.join(b, "mine", "proj"))
        pushed = self.cairn_json("-C", b, "push", env=self.env_bob)
        self.assertEqual(pushed["moved"], ["Shared/proj -> mine/proj"], pushed)
        self.assertEqual((pushed["files_changed"], pushed["errors"]), (0, []), pushed)
        self.assertEqual([s["path"] for s in self.bob("shares")["shares"]], ["/mine/proj"])
        self.assertEqual(self.alice("ls", "/proj"), before)
        # Still read-only at its new place: an edit there stays with bob.
        write(os.path.join(b, "mine", "proj", "notes.txt"), "bob's edit\n")
        pushed = self.cairn_json("-C", b, "push", env=self.env_bob, expect_exit=3)
        self.assertIn("mine/proj/notes.txt: not pushed", "\n".join(pushed["skipped"]))
        self.assertEqual(pushed["errors"], [])
        # And a later pull leaves it where bob put it.
        self.cairn_json("-C", b, "pull", env=self.env_bob)
        self.assertFalse(os.path.exists(os.path.join(b, "Shared", "proj")))
        self.assertEqual(read(os.path.join(b, "mine", "proj", "notes.txt")), "bob's edit\n")

    def test_a_single_shared_file(self):
        a, b = self.path("a"), self.path("b")
        write(os.path.join(a, "report.txt"), "draft 1\n")
        write(os.path.join(a, "private.txt"), "alice only\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/docs", check=True)
        self.cairn_json("-C", a, "push")
        self.alice("share", "/docs/report.txt", "bob", "--role", "editor")
        listed = self.bob("ls", "/Shared")["entries"]
        self.assertEqual([(e["path"], e["kind"], e["share"]["owner"]) for e in listed],
                         [("/Shared/report.txt", "file", "alice")])

        # Bob's copy of his tree holds the one file, nothing beside it.
        self.cairn_json("clone", self.daemon.url + "/", b, env=self.env_bob)
        self.assertEqual(sorted(os.listdir(os.path.join(b, "Shared"))), ["report.txt"])
        self.assertEqual(read(os.path.join(b, "Shared", "report.txt")), "draft 1\n")

        # Edits go both ways through ordinary pushes and pulls.
        write(os.path.join(b, "Shared", "report.txt"), "draft 2 by bob\n")
        pushed = self.cairn_json("-C", b, "push", env=self.env_bob)
        self.assertEqual((pushed["files_changed"], pushed["errors"]), (1, []), pushed)
        self.cairn_json("-C", a, "pull")
        self.assertEqual(read(os.path.join(a, "report.txt")), "draft 2 by bob\n")
        write(os.path.join(a, "report.txt"), "draft 3 by alice\n")
        self.cairn_json("-C", a, "push")
        self.cairn_json("-C", b, "pull", env=self.env_bob)
        self.assertEqual(read(os.path.join(b, "Shared", "report.txt")), "draft 3 by alice\n")

        # He moves it within his tree; she renames hers: neither sees the other's name.
        self.cairn_json("-C", b, "mv", "Shared/report.txt", "mine/report.txt", env=self.env_bob)
        self.alice("mv", "/docs/report.txt", "/docs/final.txt")
        self.cairn_json("-C", a, "pull")
        pulled = self.cairn_json("-C", b, "pull", env=self.env_bob)
        self.assertEqual(pulled["files_changed"], 0, pulled)
        self.assertEqual(read(os.path.join(b, "mine", "report.txt")), "draft 3 by alice\n")
        self.assertFalse(os.path.exists(os.path.join(b, "Shared", "report.txt")))
        write(os.path.join(b, "mine", "report.txt"), "draft 4 by bob\n")
        self.cairn_json("-C", b, "push", env=self.env_bob)
        self.cairn_json("-C", a, "pull")
        self.assertEqual(read(os.path.join(a, "final.txt")), "draft 4 by bob\n")
        self.assertEqual(sorted(os.listdir(a)), [".cairn", "final.txt", "private.txt"])

        # A viewer's edit stays with him.
        self.alice("share", "/docs/final.txt", "bob", "--role", "viewer")
        write(os.path.join(b, "mine", "report.txt"), "draft 5, bob's alone\n")
        # Exit 3: a script learns that a change was left unsent.
        pushed = self.cairn_json("-C", b, "push", env=self.env_bob, expect_exit=3)
        self.assertIn("mine/report.txt: not pushed: alice shares /mine/report.txt with you as a "
                      "viewer", "\n".join(pushed["skipped"]))
        self.assertEqual(pushed["changes_unsent"], 1)
        self.assertEqual(self.alice("history", "/docs/final.txt")["versions"][0]["author"], "bob")
        self.assertEqual(len(self.alice("history", "/docs/final.txt")["versions"]), 4)

        # Taken away: his edited copy is kept (forgotten by sync, never deleted).
        self.alice("unshare", "/docs/final.txt", "bob")
        self.cairn_json("-C", b, "pull", env=self.env_bob)
        self.assertEqual(read(os.path.join(b, "mine", "report.txt")), "draft 5, bob's alone\n")
        self.assertEqual(self.bob("shares")["shares"], [])
        self.bob("ls", "/mine/report.txt", expect_exit=6)

    def test_get_of_a_whole_tree_takes_what_is_shared_and_passes_over_what_its_owner_deleted(self):
        src = self.path("src")
        write(os.path.join(src, "kept", "a.txt"), "shared and kept\n")
        write(os.path.join(src, "gone", "b.txt"), "shared, then deleted by alice\n")
        write(os.path.join(src, "single.txt"), "one shared file\n")
        self.alice("put", os.path.join(src, "kept"), os.path.join(src, "gone"),
                   os.path.join(src, "single.txt"), "/")
        for path in ("/kept", "/gone", "/single.txt"):
            self.alice("share", path, "bob")
        self.alice("rm", "-r", "/gone")
        # Bob's ls still shows the dead share, so that he can leave it ...
        self.assertEqual(sorted(e["path"] for e in self.bob("ls", "/Shared")["entries"]),
                         ["/Shared/gone", "/Shared/kept", "/Shared/single.txt"])
        # ... while a backup of his whole tree is not stopped by it (it was exit 6).
        out = self.path("bob-backup")
        got = self.bob("get", "/", out)
        self.assertEqual(got["errors"], [], got)
        self.assertEqual(read(os.path.join(out, "Shared", "kept", "a.txt")), "shared and kept\n")
        self.assertEqual(read(os.path.join(out, "Shared", "single.txt")), "one shared file\n")
        self.assertFalse(os.path.exists(os.path.join(out, "Shared", "gone")))

    def test_a_share_that_ends_leaves_the_grantee_their_copy_unsynced_and_says_so(self):
        a, b = self.path("a"), self.path("b")
        for i in range(4):
            write(os.path.join(a, f"f{i}.txt"), f"alice's file {i}\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/proj", check=True)
        self.cairn_json("-C", a, "push")
        self.alice("share", "/proj", "bob", "--role", "editor")
        self.cairn_json("clone", self.daemon.url + "/", b, env=self.env_bob)
        mine = os.path.join(b, "Shared", "proj")
        write(os.path.join(mine, "f1.txt"), "bob's unsent edit\n")  # Not pushed yet.

        self.alice("unshare", "/proj", "bob")
        # Status tells him before he pulls.
        status = self.cairn_json("-C", b, "status", env=self.env_bob)
        self.assertIn({"path": "Shared/proj", "change": "share ended"}, status["remote"])
        self.assertFalse(status["in_sync"])

        pulled = self.cairn("-C", b, "pull", env=self.env_bob)
        self.assertEqual(pulled.returncode, 0, pulled.stdout + pulled.stderr)
        self.assertIn("the share of Shared/proj ended", pulled.stderr)
        # Every file stays, edited or not.
        self.assertEqual(read(os.path.join(mine, "f0.txt")), "alice's file 0\n")
        self.assertEqual(read(os.path.join(mine, "f1.txt")), "bob's unsent edit\n")
        self.assertEqual(sorted(os.listdir(mine)), [f"f{i}.txt" for i in range(4)])

        # Nothing of it is pushed: no partial copy appears in bob's own space.
        pushed = self.cairn_json("-C", b, "push", env=self.env_bob)
        self.assertEqual(pushed["files_changed"], 0, pushed)
        self.assertIn("Shared/proj: its share ended", "\n".join(pushed["skipped"]))
        self.bob("ls", "/Shared/proj", expect_exit=6)
        self.assertEqual(self.alice("ls", "/proj")["entries"][1]["path"], "/proj/f1.txt")
        self.assertEqual(read(os.path.join(a, "f1.txt")), "alice's file 1\n")

        # Moved elsewhere, it becomes his, deliberately.
        os.rename(mine, os.path.join(b, "kept"))
        pushed = self.cairn_json("-C", b, "push", env=self.env_bob)
        self.assertEqual(pushed["files_changed"], 4, pushed)
        self.assertEqual(len(self.bob("ls", "/kept")["entries"]), 4)
        self.assertTrue(self.cairn_json("-C", b, "status", env=self.env_bob)["in_sync"])

    def test_dedup_does_not_tell_one_user_what_another_stored(self):
        a = self.path("a")
        secret = os.urandom(ONE_CHUNK)
        os.makedirs(a)
        with open(os.path.join(a, "secret.bin"), "wb") as f:
            f.write(secret)
        self.cairn("init", a, "--remote", self.daemon.url + "/", check=True)
        self.cairn_json("-C", a, "push")
        known = sha256(secret)  # One chunk: the file is the minimum chunk size.
        never = sha256(os.urandom(ONE_CHUNK))

        def check(digest):
            body = json.dumps({"chunks": [{"hash": digest, "len": ONE_CHUNK}]}).encode()
            code, answer = http("POST", self.daemon.url + "/v1/chunks/check", body,
                                token=self.bob_token)
            self.assertEqual(code, 200, answer)
            missing = json.loads(answer)["missing"]
            return [m["hash"] for m in missing]

        self.assertEqual(check(known), [known])  # Asked to upload it, as if nobody had it.
        self.assertEqual(check(never), [never])
        for digest in (known, never):
            code, _ = http("GET", self.daemon.url + "/v1/chunks/" + digest, token=self.bob_token)
            self.assertEqual(code, 404)
        code, _ = http("GET", self.daemon.url + "/v1/chunks/" + known, token=self.token)
        self.assertEqual(code, 200)

        # Bob pushes the same bytes: all of them travel, the daemon keeps one copy.
        b = self.path("b")
        os.makedirs(b)
        with open(os.path.join(b, "same.bin"), "wb") as f:
            f.write(secret)
        self.cairn("init", b, "--remote", self.daemon.url + "/", check=True, env=self.env_bob)
        pushed = self.cairn_json("-C", b, "push", env=self.env_bob)
        self.assertEqual(pushed["chunks_sent"], 1)
        self.assertEqual(pushed["bytes_deduplicated"], 0)


class AuthorizationTableTest(CairnTestCase):
    """Every endpoint against every kind of caller: the status each gets, and that a refused
    request leaves alice's files exactly as they were."""

    def admin(self, *args):
        return run([CAIRND, *args, "--data", self.daemon.data_dir], check=True)

    def token_for(self, user, *flags):
        return self.admin("token", "create", user, *flags).stdout.strip().splitlines()[-1]

    def setUp(self):
        super().setUp()
        a = self.path("a")
        write(os.path.join(a, "proj", "a.txt"), "shared file\n")
        write(os.path.join(a, "other", "b.txt"), "other file\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/", check=True)
        self.cairn_json("-C", a, "push")
        code, body = http("GET", self.daemon.url + "/v1/list?path=/proj/a.txt", token=self.token)
        self.manifest = json.loads(body)["entries"][0]["manifest"]
        self.chunk = sha256(b"shared file\n")  # One chunk: the file is that small.
        for user in ("bob", "carol", "dave", "erin"):
            self.daemon.add_user(user)
        env = dict(self.env, CAIRN_SERVER=self.daemon.url)
        self.cairn_json("share", "/proj", "bob", "--role", "editor", env=env)
        self.cairn_json("share", "/proj", "carol", "--role", "viewer", env=env)
        self.cairn_json("share", "/proj", "erin", "--role", "editor", env=env)

        revoked = self.token_for("alice", "--label", "to-revoke")
        rows = self.admin("token", "list", "alice").stdout.splitlines()
        revoked_id = [r for r in rows if " to-revoke " in r][0].split()[0]
        self.admin("token", "revoke", "alice", revoked_id)
        expired = self.token_for("alice", "--expires", "1s")
        erin = self.token_for("erin")
        self.admin("user", "disable", "erin")
        self.callers = {
            "owner": (self.token, "/proj"),
            "editor": (self.token_for("bob"), "/Shared/proj"),
            "viewer": (self.token_for("carol"), "/Shared/proj"),
            "stranger": (self.token_for("dave"), "/proj"),
            "revoked": (revoked, "/proj"),
            "expired": (expired, "/proj"),
            "out of scope": (self.token_for("alice", "--path", "/other"), "/proj"),
            "read-only": (self.token_for("alice", "--read-only"), "/proj"),
            "disabled": (erin, "/Shared/proj"),
        }
        time.sleep(1.1)  # The expiring token expires.

    def state(self):
        """Alice's tree as the server has it, with versions."""
        code, body = http("GET", self.daemon.url + "/v1/changes?limit=5000", token=self.token)
        self.assertEqual(code, 200, body)
        return sorted((e["path"], e["version"], e.get("deleted", False))
                      for e in json.loads(body)["changes"])

    def test_every_endpoint_against_every_caller(self):
        def q(p):
            return urllib.parse.quote(p)

        # (name, method, path template, body template or None, writes?)
        endpoints = [
            ("list", "GET", "/v1/list?path={P}", None, False),
            ("list file", "GET", "/v1/list?path={P}/a.txt", None, False),
            ("history", "GET", "/v1/history?path={P}/a.txt", None, False),
            ("changes", "GET", "/v1/changes", None, False),
            ("shares", "GET", "/v1/shares", None, False),
            ("trash", "GET", "/v1/trash", None, False),
            ("quota", "GET", "/v1/quota", None, False),
            ("whoami", "GET", "/v1/whoami", None, False),
            ("mkdir", "POST", "/v1/commit", {"ops": [{"op": "mkdir", "path": "{P}/new"}]}, True),
            ("delete", "POST", "/v1/commit",
             {"ops": [{"op": "delete", "path": "{P}/a.txt"}]}, True),
            ("move", "POST", "/v1/commit",
             {"ops": [{"op": "move", "path": "{P}/a.txt", "to": "{P}/moved.txt"}]}, True),
            ("restore", "POST", "/v1/commit",
             {"ops": [{"op": "restore", "path": "{P}/a.txt", "version": 1}]}, True),
            ("upload", "POST", "/v1/uploads",
             {"files": [{"path": "{P}/up.txt", "kind": "file", "size": 0, "chunks": [],
                         "mtime_ns": 0}]}, True),
            ("chunk check", "POST", "/v1/chunks/check",
             {"chunks": [{"hash": "ab" * 32, "len": 5}]}, True),
            ("share", "POST", "/v1/shares", {"path": "{P}", "user": "erin", "role": "viewer"},
             True),
            ("empty trash", "POST", "/v1/trash/empty", {}, True),
            ("locate", "POST", "/v1/chunks/locate",
             {"chunks": [{"hash": self.chunk, "len": 13}], "manifests": [self.manifest]}, False),
            ("manifest", "GET", "/v1/manifests/" + self.manifest, None, False),
            ("link", "POST", "/v1/links", {"path": "{P}/a.txt"}, True),
            ("unshare", "DELETE", "/v1/shares?path={P}&user=carol", None, True),
        ]
        # Expected statuses; a 200 for the stranger is in their own, empty tree.
        expect = {
            "owner": {"list": 200, "list file": 200, "history": 200, "mkdir": 200,
                      "delete": 200, "move": 200, "restore": 200, "upload": 200,
                      "chunk check": 200, "share": 200, "empty trash": 200, "locate": 200,
                      "manifest": 200, "link": 200, "unshare": 200},
            "editor": {"list": 200, "list file": 200, "history": 200, "mkdir": 200,
                       "delete": 200, "move": 200, "restore": 200, "upload": 200,
                       "chunk check": 200, "share": 403, "empty trash": 200, "locate": 200,
                       "manifest": 200, "link": 200, "unshare": 403},
            "viewer": {"list": 200, "list file": 200, "history": 200, "mkdir": 403,
                       "delete": 403, "move": 403, "restore": 403, "upload": 403,
                       "chunk check": 200, "share": 403, "empty trash": 200, "locate": 200,
                       "manifest": 200, "link": 403, "unshare": 403},
            "stranger": {"list": 404, "list file": 404, "history": 404, "mkdir": 200,
                         "delete": 200, "move": 200, "restore": 200, "upload": 200,
                         "chunk check": 200, "share": 200, "empty trash": 200,
                         "locate": 200, "manifest": 404, "link": 404, "unshare": 404},
            "out of scope": {"list": 403, "list file": 403, "history": 403, "mkdir": 403,
                             "delete": 403, "move": 403, "restore": 403, "upload": 403,
                             "chunk check": 200, "share": 403, "empty trash": 403,
                             "locate": 200, "manifest": 404, "link": 403, "unshare": 403},
            "read-only": {"list": 200, "list file": 200, "history": 200, "mkdir": 403,
                          "delete": 403, "move": 403, "restore": 403, "upload": 403,
                          "chunk check": 403, "share": 403, "empty trash": 403,
                          "locate": 200, "manifest": 200, "link": 403, "unshare": 403},
        }
        for who in ("revoked", "expired", "disabled"):
            expect[who] = {name: 401 for name, *_ in endpoints}
        # Ops the table sends that fail per op (200 with an error result): a move or restore of
        # something that is not there, in the stranger's empty tree.
        per_op_errors = {("stranger", "move"), ("stranger", "restore")}

        failures = []
        for who, (token, base) in self.callers.items():
            for name, method, path, body, writes in endpoints:
                want = expect[who].get(name, 200)
                if want == 200 and who in ("owner", "editor") and writes:
                    continue  # Allowed changes run last, below: they would change the state.
                before = self.state()
                url = self.daemon.url + path.replace("{P}", q(base))
                data = None
                if body is not None:
                    data = json.dumps(body).replace("{P}", base).encode()
                code, answer = http(method, url, data, token=token)
                if code != want:
                    failures.append(f"{who} {name}: {code}, expected {want}: {answer[:200]}")
                if code != 200 or writes:
                    after = self.state()
                    changed_by_right = who in ("owner", "editor") and code == 200
                    if after != before and not changed_by_right:
                        failures.append(f"{who} {name}: refused, but alice's files changed")
                if name == "locate" and code == 200:
                    # Readers of the folder get the chunk; nobody else learns it exists.
                    reads = json.loads(answer)["reads"]
                    if bool(reads) != (who in ("owner", "editor", "viewer", "out of scope",
                                                "read-only")):
                        failures.append(f"{who} locate: {len(reads)} reads")
                if code == 200 and (who, name) in per_op_errors:
                    result = json.loads(answer)["results"][0]
                    if result["status"] != "error":
                        failures.append(f"{who} {name}: {result}")
                if code >= 400:
                    error = json.loads(answer).get("error", {})
                    if not error.get("message"):
                        failures.append(f"{who} {name}: no error message: {answer[:200]}")
                    if who == "viewer" and code == 403 and "viewer" not in error["message"] \
                            and name != "share":
                        failures.append(f"{who} {name}: message does not name the role: "
                                        f"{error['message']}")
        # The allowed writes, in an order that keeps each one meaningful.
        for who in ("editor", "owner"):
            token, base = self.callers[who]
            for name in ("mkdir", "move"):
                _, method, path, body, _ = [e for e in endpoints if e[0] == name][0]
                data = json.dumps(body).replace("{P}", base).encode()
                code, answer = http(method, self.daemon.url + path, data, token=token)
                result = json.loads(answer)["results"][0] if code == 200 else {}
                if code != 200 or result.get("status") not in ("ok", "unchanged"):
                    failures.append(f"{who} {name}: {code} {answer[:200]}")
            moved = [p for p, _, deleted in self.state() if p == "/proj/moved.txt" and not deleted]
            if not moved:
                failures.append(f"{who}: the move did not land in alice's tree")
            # Put it back for the next caller.
            http("POST", self.daemon.url + "/v1/commit",
                 json.dumps({"ops": [{"op": "move", "path": "/proj/moved.txt",
                                      "to": "/proj/a.txt"}]}).encode(), token=self.token)
        self.assertEqual(failures, [], "\n".join(failures))


class LinkTest(CairnTestCase):

    def remote(self, *args, expect_exit=0):
        return self.cairn_json(*args, expect_exit=expect_exit,
                               env=dict(self.env, CAIRN_SERVER=self.daemon.url))

    def fetch(self, url):
        """A plain GET, no token: (status, headers, body)."""
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def test_files_and_folders_download_without_a_token_until_revoked_or_expired(self):
        src = self.path("src")
        docs = os.path.join(src, "docs")
        make_tree(docs, files=40, big_size=6 << 20, seed=3)
        deep = os.path.join(docs, "a" * 60, "b" * 60, "c" * 60)
        write(os.path.join(deep, "long-named-file-" + "x" * 80 + ".txt"), "deep\n")
        os.symlink("../README", os.path.join(docs, "link"))
        write(os.path.join(docs, "README"), "read me\n")
        os.chmod(os.path.join(docs, "README"), 0o755)
        # Permission bits travel into the tar as they are: a private key, a private folder.
        write(os.path.join(docs, "private", "id_ed25519"), "key\n")
        os.chmod(os.path.join(docs, "private", "id_ed25519"), 0o600)
        os.chmod(os.path.join(docs, "private"), 0o700)
        self.cairn("init", src, "--remote", self.daemon.url + "/", check=True)
        self.cairn_json("-C", src, "push")

        # A file: its bytes, named.
        made = self.remote("link", "/docs/README")
        self.assertTrue(made["url"].startswith(self.daemon.url + "/l/"), made)
        status, headers, body = self.fetch(made["url"])
        self.assertEqual(status, 200)
        self.assertEqual(body, b"read me\n")
        self.assertIn('filename="README"', headers["Content-Disposition"])

        # A folder: a tar stream any tar reads, equal to the tree (long names, a symlink, modes).
        folder = self.remote("link", "/docs")
        status, headers, body = self.fetch(folder["url"])
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/x-tar")
        self.assertEqual(int(headers["Content-Length"]), len(body))
        out = self.path("out")
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            tar.extractall(out, filter="tar")
        self.assertEqual(tree_snapshot(os.path.join(out, "docs")), tree_snapshot(docs))
        self.assertTrue(os.access(os.path.join(out, "docs", "README"), os.X_OK))
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            modes = {m.name: m.mode for m in tar.getmembers()}
        self.assertEqual(modes["docs/private/id_ed25519"], 0o600)
        self.assertEqual(modes["docs/private"], 0o700)
        self.assertEqual(modes["docs/README"], 0o755)

        # Revoked, expired, unknown and deleted all answer the same 404.
        short = self.remote("link", "/docs/README", "--expires", "1s")
        doomed = self.remote("link", "/docs/sub-doomed.txt", expect_exit=6)
        self.assertIn("no such", json.dumps(doomed))
        self.remote("link", "--revoke", folder["url"])
        time.sleep(2.1)
        answers = {self.fetch(url)[0:3:2] for url in (
            folder["url"], short["url"], self.daemon.url + "/l/" + "ab" * 32,
            self.daemon.url + "/l/nonsense")}
        self.assertEqual(len(answers), 1, answers)
        self.assertEqual(next(iter(answers))[0], 404)
        # The file link still works; then its file is deleted and it is gone too.
        self.assertEqual(self.fetch(made["url"])[0], 200)
        self.remote("rm", "/docs/README")
        self.assertEqual(self.fetch(made["url"])[0], 404)
        listed = {l["link_id"]: l for l in self.remote("link", "--list")["links"]}
        self.assertTrue(listed[folder["link_id"]]["revoked"])
        self.assertEqual(listed[made["link_id"]]["path"], "")
        # The daemon's log never holds a link's token.
        with open(self.daemon.stderr_path) as f:
            self.assertNotIn(folder["url"].rsplit("/", 1)[1], f.read())
