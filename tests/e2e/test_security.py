"""End-to-end: the daemon and the client probed as an attacker would, through the raw API and
through a server that lies. Each test names the rule it holds; every refused request is also
checked to have changed nothing."""

import hashlib
import json
import os
import time
import urllib.parse

from harness import (ONE_CHUNK, CAIRN, CAIRND, CairnTestCase, HttpFaultProxy, http, read, run,
                     sha256, tree_snapshot, write)


class ApiCase(CairnTestCase):
    """Raw API calls as several users."""

    def api(self, method, path, body=None, token=None, expect=None):
        data = json.dumps(body).encode() if body is not None else None
        code, answer = http(method, self.daemon.url + path, data, token=token or self.token)
        if expect is not None:
            self.assertEqual(code, expect, f"{method} {path}: {answer[:400]!r}")
        try:
            return code, json.loads(answer) if answer else None
        except ValueError:
            return code, answer

    def admin(self, *args):
        return run([CAIRND, *args, "--data", self.daemon.data_dir], check=True)

    def token_for(self, user, *flags):
        return self.admin("token", "create", user, *flags).stdout.strip().splitlines()[-1]

    def fetch_read(self, read_, token):
        """The bytes one read of POST /v1/chunks/locate returns (a daemon URL or the store's)."""
        url = read_["url"]
        headers = dict(read_.get("headers") or {})
        if url.startswith("/"):
            return http("GET", self.daemon.url + url, token=token, headers=headers)
        return http("GET", url, headers=headers)

    def push_files(self, files, remote="/"):
        """Alice pushes {relative path: bytes} from a fresh working copy."""
        a = self.path("alice-wc-" + os.urandom(3).hex())
        for rel, data in files.items():
            full = os.path.join(a, rel)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(data)
        self.cairn("init", a, "--remote", self.daemon.url + remote, check=True)
        self.cairn_json("-C", a, "push")
        return a

    def entry(self, path, token=None):
        code, body = self.api("GET", "/v1/list?path=" + urllib.parse.quote(path), token=token)
        self.assertEqual(code, 200, body)
        return body["entries"][0]

    def alice_state(self):
        """Alice's tree as the server has it: (path, node, version, deleted), sorted."""
        code, body = self.api("GET", "/v1/changes?limit=5000")
        self.assertEqual(code, 200, body)
        return sorted((e["path"], e["node_id"], e["version"], e.get("deleted", False))
                      for e in body["changes"])


class ChunkReadTest(ApiCase):
    """A chunk is read only by someone who holds it, or through a committed version they may
    read: a staged manifest grants nothing, and naming a hash tells nothing."""

    def setUp(self):
        super().setUp()
        self.bob_token = self.daemon.add_user("bob")
        self.secret = os.urandom(ONE_CHUNK)  # One chunk, above the pack limit: an object of its own.
        self.small = os.urandom(5_000)     # One chunk, sent in a pack.
        self.push_files({"secret.bin": self.secret, "small.bin": self.small})
        self.chunks = [(sha256(self.secret), len(self.secret)), (sha256(self.small), len(self.small))]

    def assert_bob_gets_nothing(self, manifests):
        for h, n in self.chunks:
            code, body = self.api("POST", "/v1/chunks/locate",
                                  {"chunks": [{"hash": h, "len": n}], "manifests": manifests},
                                  token=self.bob_token)
            self.assertEqual(code, 200, body)
            self.assertEqual(body["reads"], [], f"bob was told where {h} is")
            code, _ = http("GET", self.daemon.url + "/v1/chunks/" + h, token=self.bob_token)
            self.assertEqual(code, 404)

    def test_a_staged_manifest_grants_no_reads(self):
        for h, n in self.chunks:
            code, staged = self.api("POST", "/v1/uploads", {"files": [
                {"path": "/p-" + h[:8], "kind": "file", "chunks": [{"hash": h, "len": n}]}]},
                token=self.bob_token, expect=200)
            manifest = staged["uploads"][0]["manifest"]
            # His own staged manifest he may read back; it grants him nothing.
            self.api("GET", "/v1/manifests/" + manifest, token=self.bob_token, expect=200)
            self.assert_bob_gets_nothing([manifest])
            # Committing it fails: he does not hold the chunk.
            code, done = self.api("POST", "/v1/commit", {"ops": [
                {"op": "put", "upload_id": staged["uploads"][0]["upload_id"]}]},
                token=self.bob_token, expect=200)
            self.assertEqual(done["results"][0]["status"], "error", done)

    def test_alices_manifest_grants_bob_nothing(self):
        manifest = self.entry("/secret.bin")["manifest"]
        self.assert_bob_gets_nothing([manifest])
        code, _ = http("GET", self.daemon.url + "/v1/manifests/" + manifest, token=self.bob_token)
        self.assertEqual(code, 404)

    def test_the_owner_still_reads_everything(self):
        for h, n in self.chunks:
            code, body = self.api("POST", "/v1/chunks/locate", {"chunks": [{"hash": h, "len": n}]},
                                  expect=200)
            self.assertEqual(len(body["reads"]), 1, body)
            code, data = self.fetch_read(body["reads"][0], self.token)
            self.assertIn(code, (200, 206))  # A range of a pack in S3 is a 206.
            self.assertIn(h, [p["hash"] for p in body["reads"][0]["parts"]])


class FakePackClaimTest(ApiCase):
    """With chunks in S3 the daemon never sees a pack's bytes: what a client says a pack holds is
    a claim. A claim lets the claimant read that pack and commit what it names; it never reaches
    a copy someone else stored."""

    def test_a_pack_that_claims_alices_chunk_reaches_only_itself(self):
        secret = os.urandom(ONE_CHUNK)
        h = sha256(secret)
        self.push_files({"secret.bin": secret})
        bob = self.daemon.add_user("bob")
        carol = self.daemon.add_user("carol")

        # Bob uploads junk and says it holds alice's chunk.
        junk = os.urandom(300_100)
        code, grant = self.api("POST", "/v1/packs", {"pack": sha256(junk), "size": len(junk)},
                               token=bob, expect=200)
        headers = dict(grant.get("headers") or {}, **{"Content-Type": "application/octet-stream"})
        code, _ = http("PUT", grant["url"], junk, headers=headers)
        self.assertEqual(code, 200)
        self.api("POST", "/v1/packs/confirm", {
            "pack": sha256(junk), "size": len(junk),
            "entries": [{"hash": h, "len": len(secret), "stored": len(secret), "codec": "raw",
                         "offset": 0}]}, token=bob, expect=200)

        def reads_for(token, manifests=()):
            code, body = self.api("POST", "/v1/chunks/locate",
                                  {"chunks": [{"hash": h, "len": len(secret)}],
                                   "manifests": list(manifests)}, token=token, expect=200)
            got = []
            for r in body["reads"]:
                code, data = self.fetch_read(r, token)
                got.append(data)
            return got

        # Bob reads his own pack (junk); never alice's object.
        for data in reads_for(bob):
            self.assertFalse(secret in data, "alice's bytes reached someone else")

        # What he commits and shares with carol reads from his pack alone.
        code, done = self.api("POST", "/v1/commit", {"ops": [{"op": "put", "file": {
            "path": "/claimed.bin", "kind": "file", "chunks": [{"hash": h, "len": len(secret)}]}}]},
            token=bob, expect=200)
        self.assertEqual(done["results"][0]["status"], "ok", done)
        self.api("POST", "/v1/shares", {"path": "/claimed.bin", "user": "carol",
                                        "role": "viewer"}, token=bob, expect=200)
        manifest = self.entry("/Shared/claimed.bin", token=carol)["manifest"]
        reads = reads_for(carol, [manifest])
        for data in reads:
            self.assertFalse(secret in data, "alice's bytes reached someone else")

        # Read through the daemon, the claim is checked, found false and forgotten: bob is asked
        # for the bytes again, and alice's copy is untouched.
        code, data = http("GET", self.daemon.url + "/v1/chunks/" + h, token=bob)
        self.assertFalse(data == secret, "alice's bytes reached bob")
        self.assertIn(code, (404, 422))
        code, check = self.api("POST", "/v1/chunks/check",
                               {"chunks": [{"hash": h, "len": len(secret)}]}, token=bob,
                               expect=200)
        self.assertEqual([m["hash"] for m in check["missing"]], [h])
        code, check = self.api("POST", "/v1/chunks/check",
                               {"chunks": [{"hash": h, "len": len(secret)}]}, expect=200)
        self.assertEqual(check["missing"], [])


class ScopeEscapeTest(ApiCase):
    """A path-scoped token reaches nothing outside its folder, whatever node id it names."""

    def setUp(self):
        super().setUp()
        self.push_files({"secret/a.txt": b"secret a\n", "secret/gone.txt": b"to be deleted\n",
                         "ci/build.txt": b"build output\n"})
        self.outside = self.entry("/secret/a.txt")
        self.gone = self.entry("/secret/gone.txt")
        self.api("POST", "/v1/commit", {"ops": [{"op": "delete", "path": "/secret/gone.txt"}]},
                 expect=200)
        self.ci = self.token_for("alice", "--path", "/ci")
        self.before = self.alice_state()

    def commit_as_ci(self, op):
        code, body = self.api("POST", "/v1/commit", {"ops": [op]}, token=self.ci)
        if code == 200:
            return body["results"][0]
        return {"status": "refused", "code": code, "body": body}

    def test_a_move_by_node_id_cannot_pull_a_file_in(self):
        result = self.commit_as_ci({"op": "move", "path": "/ci/x", "to": "/ci/stolen",
                                    "node_id": self.outside["node_id"]})
        self.assertNotIn(result["status"], ("ok", "unchanged"), result)
        self.assertEqual(self.alice_state(), self.before)

    def test_an_undelete_by_node_id_cannot_bring_a_file_in(self):
        for to in ("/ci/back", ""):
            op = {"op": "undelete", "node_id": self.gone["node_id"]}
            if to:
                op["to"] = to
            result = self.commit_as_ci(op)
            self.assertNotIn(result["status"], ("ok", "unchanged"), result)
        self.assertEqual(self.alice_state(), self.before)
        code, trash = self.api("GET", "/v1/trash", expect=200)
        self.assertIn("/secret/gone.txt", [e["path"] for e in trash["entries"]])
        # Inside its folder the same token restores what it deleted.
        build = self.entry("/ci/build.txt")
        self.commit_as_ci({"op": "delete", "path": "/ci/build.txt"})
        result = self.commit_as_ci({"op": "undelete", "node_id": build["node_id"]})
        self.assertEqual(result["status"], "ok", result)

    def test_a_put_with_an_outside_node_id_writes_a_new_file(self):
        result = self.commit_as_ci({"op": "put", "file": {
            "path": "/ci/q", "kind": "file", "node_id": self.outside["node_id"],
            "base_version": self.outside["version"],
            "chunks": [{"hash": sha256(b"build output\n"), "len": 13}]}})
        self.assertEqual(result["status"], "ok", result)
        self.assertEqual(result["path"], "/ci/q")
        self.assertNotEqual(result["node_id"], self.outside["node_id"])
        code, history = self.api("GET", "/v1/history?path=/secret/a.txt", expect=200)
        self.assertEqual(len(history["versions"]), 1)

    def test_links_and_manifests_outside_are_out_of_reach(self):
        code, made = self.api("POST", "/v1/links", {"path": "/secret/a.txt"}, expect=200)
        code, inside = self.api("POST", "/v1/links", {"path": "/ci/build.txt"}, expect=200)
        code, listed = self.api("GET", "/v1/links", token=self.ci, expect=200)
        self.assertEqual([l["link_id"] for l in listed["links"]], [inside["link_id"]])
        code, _ = self.api("DELETE", f"/v1/links?id={made['link_id']}", token=self.ci)
        self.assertEqual(code, 404)
        status, _ = http("GET", self.daemon.url + made["url"])
        self.assertEqual(status, 200)  # Still alive.
        self.api("DELETE", f"/v1/links?id={inside['link_id']}", token=self.ci, expect=200)

        code, _ = self.api("GET", "/v1/manifests/" + self.outside["manifest"], token=self.ci)
        self.assertEqual(code, 404)
        code, body = self.api("POST", "/v1/manifests",
                              {"manifests": [self.outside["manifest"]]}, token=self.ci)
        if code == 200:
            self.assertEqual(body["manifests"], [])
        mine = self.entry("/ci/build.txt")["manifest"]
        self.api("GET", "/v1/manifests/" + mine, token=self.ci, expect=200)
        code, _ = self.api("GET", f"/v1/history?node_id={self.outside['node_id']}", token=self.ci)
        self.assertEqual(code, 404)


class LinkAccessTest(ApiCase):
    """A link lives no longer than its creator's right to share what it points at, and the owner
    of the files sees and ends every link into them."""

    def fetch(self, url):
        return http("GET", self.daemon.url + url)[0]

    def test_an_editors_links_end_with_the_share(self):
        self.push_files({"team/plan.txt": b"the plan\n"})
        carol = self.daemon.add_user("carol")
        self.api("POST", "/v1/shares", {"path": "/team", "user": "carol", "role": "editor"},
                 expect=200)
        code, folder = self.api("POST", "/v1/links", {"path": "/Shared/team"}, token=carol,
                                expect=200)
        code, file_ = self.api("POST", "/v1/links", {"path": "/Shared/team/plan.txt"},
                               token=carol, expect=200)
        self.assertEqual(self.fetch(folder["url"]), 200)
        self.assertEqual(self.fetch(file_["url"]), 200)

        # Alice sees them, with who made them, and can end one.
        code, listed = self.api("GET", "/v1/links", expect=200)
        by_id = {l["link_id"]: l for l in listed["links"]}
        self.assertEqual(by_id[folder["link_id"]]["path"], "/team")
        self.assertEqual(by_id[folder["link_id"]]["created_by"], "carol")
        self.api("DELETE", f"/v1/links?id={file_['link_id']}", expect=200)
        self.assertEqual(self.fetch(file_["url"]), 404)

        # Demoted to viewer: her link stops, and being made editor again does not revive it.
        self.api("POST", "/v1/shares", {"path": "/team", "user": "carol", "role": "viewer"},
                 expect=200)
        self.assertEqual(self.fetch(folder["url"]), 404)
        self.api("POST", "/v1/shares", {"path": "/team", "user": "carol", "role": "editor"},
                 expect=200)
        self.assertEqual(self.fetch(folder["url"]), 404)

        # A new link, then the share is taken away: it stops too.
        code, again = self.api("POST", "/v1/links", {"path": "/Shared/team"}, token=carol,
                               expect=200)
        self.assertEqual(self.fetch(again["url"]), 200)
        self.api("DELETE", "/v1/shares?path=/team&user=carol", expect=200)
        self.assertEqual(self.fetch(again["url"]), 404)
        code, listed = self.api("GET", "/v1/links", token=carol, expect=200)
        self.assertTrue(all(l["revoked"] for l in listed["links"]), listed)

    def test_a_stranger_cannot_revoke_or_list_someone_elses_links(self):
        self.push_files({"docs/a.txt": b"a\n"})
        dave = self.daemon.add_user("dave")
        code, made = self.api("POST", "/v1/links", {"path": "/docs"}, expect=200)
        code, _ = self.api("DELETE", f"/v1/links?id={made['link_id']}", token=dave)
        self.assertEqual(code, 404)
        code, listed = self.api("GET", "/v1/links", token=dave, expect=200)
        self.assertEqual(listed["links"], [])
        self.assertEqual(self.fetch(made["url"]), 200)


class ReservedNameTest(ApiCase):
    """".cairn" is a working copy's own folder: the server never accepts the name, in any letter
    case and at any depth, and the client never sends it."""

    def test_the_server_refuses_the_name(self):
        self.push_files({"docs/a.txt": b"a\n"})
        before = self.alice_state()
        chunk = [{"hash": sha256(b"a\n"), "len": 2}]
        attempts = [
            ("POST", "/v1/uploads", {"files": [{"path": "/.cairn/state.db", "kind": "file",
                                                "chunks": chunk}]}),
            ("POST", "/v1/commit", {"ops": [{"op": "put", "file": {
                "path": "/docs/.cairn/pwned.txt", "kind": "file", "chunks": chunk}}]}),
            ("POST", "/v1/commit", {"ops": [{"op": "mkdir", "path": "/docs/.CAIRN"}]}),
            ("POST", "/v1/commit", {"ops": [{"op": "move", "path": "/docs/a.txt",
                                             "to": "/.Cairn/a.txt"}]}),
            ("POST", "/v1/links", {"path": "/.cairn"}),
        ]
        for method, path, body in attempts:
            code, answer = self.api(method, path, body)
            self.assertEqual(code, 400, f"{path} {body}: {answer}")
            self.assertIn(".cairn", json.dumps(answer))
        self.assertEqual(self.alice_state(), before)

    def test_push_leaves_a_nested_state_folder_out(self):
        a = self.path("a")
        write(os.path.join(a, "notes.txt"), "notes\n")
        write(os.path.join(a, "inner", ".cairn", "state.db"), "another working copy's state\n")
        write(os.path.join(a, "inner", "kept.txt"), "kept\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/", check=True)
        pushed = self.cairn_json("-C", a, "push")
        self.assertIn("inner/.cairn", json.dumps(pushed["skipped"]))
        self.assertEqual(self.entry("/inner/kept.txt")["path"], "/inner/kept.txt")
        code, _ = self.api("GET", "/v1/list?path=/inner/.cairn")
        self.assertEqual(code, 400)


class LyingServerTest(ApiCase):
    """Paths from the server are held to the server's own rules, and nothing is ever written
    through a symlink in the working copy: a broken or hostile server (or a man in the middle of
    plain HTTP) cannot make the client write outside its working copy or into its state."""

    def setUp(self):
        super().setUp()
        self.proxy = HttpFaultProxy(self.daemon.url)
        self.addCleanup(self.proxy.close)
        self.outside = self.path("outside")
        os.makedirs(self.outside)

    def rewrite_paths(self, mapping):
        """Rewrites paths in change feeds and listings on their way to the client."""
        def rewrite(method, path, body):
            if method != "GET" or not (path.startswith("/v1/changes") or
                                       path.startswith("/v1/list")):
                return body
            doc = json.loads(body)
            for key in ("changes", "entries"):
                for e in doc.get(key, []):
                    e["path"] = mapping.get(e["path"], e["path"])
            return json.dumps(doc).encode()
        self.proxy.rewrite = rewrite

    def outside_snapshot(self):
        return sorted(os.path.relpath(os.path.join(d, f), self.tmp)
                      for d, _, fs in os.walk(self.tmp) for f in fs
                      if "escape" in f or "pwned" in f)

    def test_dot_dot_and_state_folder_paths_are_refused(self):
        self.push_files({"docs/a.txt": b"a\n", "docs/b.txt": b"b\n", "docs/c.txt": b"c\n"})
        self.rewrite_paths({"/docs/a.txt": "/docs/../escape.txt",
                            "/docs/b.txt": "/docs/.cairn/pwned.txt",
                            "/docs/c.txt": "/docs/sub/../../../escape2.txt"})
        wc = self.path("wc")
        result = self.cairn("clone", self.proxy.url + "/docs", wc, "--json")
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertIn("invalid path", result.stdout + result.stderr)
        self.assertEqual(self.outside_snapshot(), [])
        self.assertFalse(os.path.exists(os.path.join(wc, ".cairn", "pwned.txt")))
        self.assertEqual(sorted(os.listdir(wc)), [".cairn"])

    def test_get_and_cat_refuse_paths_the_server_should_never_send(self):
        self.push_files({"docs/a.txt": b"a\n", "docs/sub/b.txt": b"b\n", "docs/c.txt": b"c\n"})
        env = dict(self.env, CAIRN_SERVER=self.proxy.url)
        for lie in ("/docs/../escape.txt", "/docs/.cairn/pwned.txt", "/elsewhere/pwned.txt",
                    "/docs/sub/../../escape2.txt", "/docs/nowhere/pwned.txt"):
            self.rewrite_paths({"/docs/c.txt": lie})
            out = self.path("out")
            result = self.cairn("get", "/docs", out, "--json", env=env)
            self.assertEqual(result.returncode, 7, lie + ": " + result.stdout + result.stderr)
            self.assertIn("refusing it", result.stdout)
            self.assertEqual(self.outside_snapshot(), [])
            self.assertFalse(os.path.exists(out) and os.listdir(out), lie)
        self.rewrite_paths({"/docs/a.txt": "/docs/../escape.txt"})
        result = self.cairn("cat", "/docs/a.txt", env=env)
        self.assertEqual(result.returncode, 7, result.stderr)
        self.assertIn("refusing it", result.stderr)
        self.assertEqual(result.stdout, "")

    def test_a_synced_symlink_is_never_a_folder_to_write_into(self):
        a = self.push_files({"dir/inner.txt": b"first\n"})
        os.symlink("../outside", os.path.join(a, "lnk"))
        self.cairn_json("-C", a, "push")
        wc = self.path("wc")
        self.cairn_json("clone", self.proxy.url + "/", wc)
        self.assertTrue(os.path.islink(os.path.join(wc, "lnk")))
        # A new version of dir/inner.txt, which the proxy passes off as lnk/inner.txt.
        write(os.path.join(a, "dir", "inner.txt"), "second\n")
        self.cairn_json("-C", a, "push")
        self.rewrite_paths({"/dir/inner.txt": "/lnk/inner.txt"})
        result = self.cairn("-C", wc, "pull", "--json")
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertIn("symlink", result.stdout)
        self.assertEqual(os.listdir(self.outside), [])

    def test_a_local_symlink_where_the_server_has_a_folder(self):
        # No lie needed: device A made a symlink by hand where device B made a folder.
        a = self.push_files({"readme.txt": b"r\n"})
        wc = self.path("wc")
        self.cairn_json("clone", self.daemon.url + "/", wc)
        os.symlink("../outside", os.path.join(wc, "shared"))
        write(os.path.join(a, "shared", "f.txt"), "from B\n")
        self.cairn_json("-C", a, "push")
        result = self.cairn("-C", wc, "pull", "--json")
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertEqual(os.listdir(self.outside), [])
        self.assertTrue(os.path.islink(os.path.join(wc, "shared")))


class ResourceTest(ApiCase):
    """Many connections, slow ones, big bodies and sockets: the daemon stays up and answers, its
    memory bounded, and nobody who cannot authenticate makes it read (and hold) a body."""

    def spawn(self, *flags, nofile=None):
        """A second daemon on the same data, its own limits: (process, url)."""
        import resource
        import subprocess

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.daemon.stop()
        proc = subprocess.Popen([CAIRND, "serve", "--data", self.daemon.data_dir, "--listen",
                                 "127.0.0.1:0", *flags], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, preexec_fn=limit)
        line = proc.stdout.readline().strip()
        self.assertTrue(line.startswith("listening on "), line)

        def stop():
            proc.terminate()
            proc.wait(timeout=20)
            proc.stdout.close()
        self.addCleanup(stop)
        self.daemon.url = line[len("listening on "):]
        return proc, self.daemon.url

    @staticmethod
    def status(pid, key):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    @staticmethod
    def cpu_seconds(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def connect(self, url):
        import socket
        parts = urllib.parse.urlsplit(url)
        return socket.create_connection((parts.hostname, parts.port), timeout=10)

    def test_many_idle_connections_under_a_low_descriptor_limit(self):
        proc, url = self.spawn(nofile=100)
        held = [self.connect(url) for _ in range(130)]
        self.addCleanup(lambda: [s.close() for s in held])
        time.sleep(0.5)
        before = self.cpu_seconds(proc.pid)
        code, body = http("GET", url + "/healthz")
        self.assertEqual(code, 200, body)
        time.sleep(1.0)
        # No spinning on EMFILE: well under a core for the second that follows.
        self.assertLess(self.cpu_seconds(proc.pid) - before, 0.5)
        code, _ = self.api("GET", "/v1/whoami")
        self.assertEqual(code, 200)

    def test_a_body_is_not_read_for_someone_without_a_token(self):
        proc, url = self.spawn()
        rss = self.status(proc.pid, "VmRSS")
        sockets = []
        for _ in range(8):
            s = self.connect(url)
            s.sendall(b"POST /v1/commit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Authorization: Bearer cairn_" + b"0" * 64 + b"\r\n"
                      b"Content-Length: 30000000\r\n\r\n")
            sockets.append(s)
        for s in sockets:
            # Answered at once, before the body: 401 with Connection: close.
            answer = s.recv(4096)
            self.assertTrue(answer.startswith(b"HTTP/1.1 401"), answer[:200])
            try:
                s.sendall(b"x" * (4 << 20))
            except OSError:
                pass  # Closed under us: the body was never wanted.
            s.close()
        self.assertLess(self.status(proc.pid, "VmHWM") - rss, 40 << 20)

    def test_dense_or_deep_json_is_refused_before_it_costs_memory(self):
        proc, url = self.spawn()
        rss = self.status(proc.pid, "VmRSS")
        dense = b'{"ops":[' + b"1," * (10 << 20) + b'1]}'
        code, body = http("POST", url + "/v1/commit", dense, token=self.token)
        self.assertEqual(code, 400, body[:300])
        self.assertIn(b"dense", body)
        deep = b'{"ops":' + b"[" * 5000 + b"]" * 5000 + b"}"
        code, body = http("POST", url + "/v1/commit", deep, token=self.token)
        self.assertEqual(code, 400, body[:300])
        self.assertLess(self.status(proc.pid, "VmHWM") - rss, 120 << 20)

    def test_a_slow_upload_that_keeps_moving_is_not_cut_off(self):
        proc, url = self.spawn("--idle-timeout", "1")
        data = os.urandom(ONE_CHUNK)
        code, check = self.api("POST", "/v1/chunks/check",
                               {"chunks": [{"hash": sha256(data), "len": len(data)}]}, expect=200)
        grant = check["missing"][0]["url"]
        s = self.connect(url)
        s.sendall(f"PUT {grant} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n".encode())
        # Three seconds in all, three times the idle timeout, never silent for half of it.
        step = len(data) // 10
        for i in range(0, len(data), step):
            s.sendall(data[i:i + step])
            time.sleep(0.3)
        answer = s.recv(4096)
        self.assertTrue(answer.startswith(b"HTTP/1.1 201"), answer[:200])
        s.close()
        # A connection that says nothing is closed after the idle timeout.
        quiet = self.connect(url)
        quiet.settimeout(5)
        started = time.monotonic()
        self.assertEqual(quiet.recv(10), b"")
        self.assertLess(time.monotonic() - started, 3)

    def test_notification_sockets_are_bounded_per_user(self):
        from wsclient import HttpRefused, WebSocket
        url = self.daemon.url + "/v1/notify"
        opened = []
        try:
            for _ in range(32):
                opened.append(WebSocket(url, token=self.token))
            with self.assertRaises(HttpRefused) as refused:
                WebSocket(url, token=self.token)
            self.assertEqual(refused.exception.status, 503)
            self.assertIn("too many notification sockets", refused.exception.body)
            # Another user is not affected.
            bob = self.daemon.add_user("bob")
            WebSocket(url, token=bob).close()
        finally:
            for w in opened:
                w.close()


class TrustTest(ApiCase):
    """The smaller breaks of trust: a private data folder, lost bytes reported as such."""

    def test_the_data_folder_is_its_owners_alone(self):
        self.push_files({"a.txt": os.urandom(ONE_CHUNK)})
        data = self.daemon.data_dir
        self.assertEqual(os.stat(data).st_mode & 0o777, 0o700)
        for dirpath, dirnames, filenames in os.walk(data):
            for name in dirnames + filenames:
                mode = os.lstat(os.path.join(dirpath, name)).st_mode
                self.assertEqual(mode & 0o077, 0, os.path.join(dirpath, name))

    def test_a_clone_that_meets_a_lost_chunk_says_so_with_exit_7(self):
        data = os.urandom(ONE_CHUNK)  # One chunk, an object of its own.
        self.push_files({"victim.bin": data, "fine.txt": b"fine\n"})
        self.daemon.delete_chunk(sha256(data))
        clone = self.path("clone")
        r = self.cairn("clone", self.daemon.url + "/", clone)
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertIn("victim.bin", r.stdout + r.stderr)
        self.assertFalse(os.path.exists(os.path.join(clone, "victim.bin")))
        self.assertEqual(read(os.path.join(clone, "fine.txt")), "fine\n")

    def test_login_takes_the_token_from_stdin_not_the_command_line(self):
        env = dict(self.env)
        env.pop("CAIRN_TOKEN")
        for args in ([], ["--token", "-"]):
            os.path.exists(env["CAIRN_CONFIG"]) and os.remove(env["CAIRN_CONFIG"])
            r = run([CAIRN, "login", self.daemon.url, *args], env=env, input=self.token + "\n")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("alice", r.stdout)
            self.assertNotIn("visible to other users", r.stderr)
            self.assertEqual(os.stat(env["CAIRN_CONFIG"]).st_mode & 0o777, 0o600)
        r = run([CAIRN, "login", self.daemon.url], env=env, input="cairn_" + "3" * 64 + "\n")
        self.assertEqual(r.returncode, 5, r.stderr)
        # Still accepted on the command line, with a warning.
        r = run([CAIRN, "login", self.daemon.url, "--token", self.token], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("visible to other users of this machine", r.stderr)

    def test_upload_urls_die_with_their_token(self):
        doomed = self.token_for("alice", "--label", "doomed")
        data = os.urandom(ONE_CHUNK)
        code, check = self.api("POST", "/v1/chunks/check",
                               {"chunks": [{"hash": sha256(data), "len": len(data)}]},
                               token=doomed, expect=200)
        grant = check["missing"][0]["url"]
        code, pack = self.api("POST", "/v1/packs", {"pack": sha256(b"p" * 100), "size": 100},
                              token=doomed, expect=200)
        rows = self.admin("token", "list", "alice").stdout.splitlines()
        token_id = [r for r in rows if " doomed " in r][0].split()[0]
        self.admin("token", "revoke", "alice", token_id)
        octets = {"Content-Type": "application/octet-stream"}
        if grant.startswith("/"):
            # The daemon's own URL: refused when the bytes arrive, nothing kept.
            code, body = http("PUT", self.daemon.url + grant, data, headers=octets)
            self.assertEqual(code, 401, body)
            self.assertEqual(self.daemon.stored_chunk_files(), 0)
            code, body = http("PUT", self.daemon.url + pack["url"], b"p" * 100, headers=octets)
            self.assertIn(code, (401, 422), body)  # Refused either way; nothing kept.
        else:
            # A bucket's pre-signed URL cannot be revoked, but the upload is only garbage there:
            # adopting it takes the token.
            headers = dict(check["missing"][0].get("headers") or {}, **octets)
            self.assertEqual(http("PUT", grant, data, headers=headers)[0], 200)
            code, _ = self.api("POST", "/v1/chunks/confirm",
                               {"chunks": [{"hash": sha256(data), "len": len(data)}]},
                               token=doomed)
            self.assertEqual(code, 401)
        code, check = self.api("POST", "/v1/chunks/check",
                               {"chunks": [{"hash": sha256(data), "len": len(data)}]}, expect=200)
        self.assertEqual(len(check["missing"]), 1)

    def test_a_pull_makes_its_files_durable_before_putting_them_in_place(self):
        import shutil
        self.push_files({"a.txt": b"a\n", "b/c.txt": os.urandom(ONE_CHUNK)})
        strace = shutil.which("strace")
        self.assertIsNotNone(strace, "strace is needed (scripts/install-deps.sh installs it)")
        trace = self.path("trace")
        clone = self.path("clone")
        # LeakSanitizer cannot run under ptrace; the sanitized build's other checks still do.
        env = dict(self.env)
        env["ASAN_OPTIONS"] = ":".join(
            [o for o in env.get("ASAN_OPTIONS", "").split(":") if o] + ["detect_leaks=0"])
        r = run([strace, "-f", "-o", trace, "-e", "trace=syncfs,fsync,fdatasync,rename,renameat,"
                 "renameat2", CAIRN, "clone", self.daemon.url + "/", clone], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        calls = [line.split(None, 1)[1] for line in open(trace) if "resumed" not in line and
                 ("sync" in line or "rename" in line)]
        placed = [i for i, c in enumerate(calls) if c.startswith("rename") and ".part" in c]
        synced = [i for i, c in enumerate(calls) if "sync" in c.split("(")[0]]
        self.assertEqual(len(placed), 2, calls)
        # Made durable before the first is put in place, and again before the state says so.
        self.assertTrue(synced and synced[0] < placed[0], calls)
        self.assertTrue(synced[-1] > placed[-1], calls)
