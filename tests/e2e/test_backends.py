"""End-to-end on PostgreSQL + S3: direct uploads to the bucket, two daemons sharing one database
and one bucket, outages of either backend, and a bucket that answers errors. Needs the servers of scripts/start-postgres.sh and
scripts/start-s3.sh (scripts/test.sh starts both)."""

import base64
import copy
import hashlib
import json
import os
import subprocess
import time
import urllib.parse

from harness import (CAIRN, CairnTestCase, Daemon, HttpFaultProxy, TcpProxy, http, make_tree,
                     run, sha256, tree_snapshot, wait_for, write_random)


def chunk_body(data):
    return json.dumps({"chunks": [{"hash": sha256(data), "len": len(data)}]}).encode()


class DirectUploadTest(CairnTestCase):

    def grant(self, data, token=None):
        status, resp = http("POST", self.daemon.url + "/v1/chunks/check", chunk_body(data),
                            token or self.token)
        self.assertEqual(status, 200, resp)
        missing = json.loads(resp)["missing"]
        return missing[0] if missing else None

    def put(self, grant, data):
        headers = dict(grant["headers"], **{"Content-Type": "application/octet-stream"})
        return http("PUT", grant["url"], data, headers=headers)[0]

    def confirm(self, data, token=None):
        status, resp = http("POST", self.daemon.url + "/v1/chunks/confirm", chunk_body(data),
                            token or self.token)
        self.assertEqual(status, 200, resp)
        return json.loads(resp)["missing"]

    def test_grants_point_at_the_bucket_and_pin_the_checksum(self):
        data = os.urandom(20000)
        grant = self.grant(data)
        endpoint = self.daemon.backends.bucket.endpoint
        self.assertTrue(grant["url"].startswith(endpoint + "/"), grant["url"])
        query = urllib.parse.parse_qs(grant["url"].split("?", 1)[1])
        self.assertEqual(query["X-Amz-SignedHeaders"], ["host;x-amz-checksum-sha256"])
        self.assertEqual(grant["headers"]["x-amz-checksum-sha256"],
                         base64.b64encode(hashlib.sha256(data).digest()).decode())
        self.assertNotIn(self.token, grant["url"])
        self.assertNotIn(os.environ["AWS_SECRET_ACCESS_KEY"] + "&", grant["url"])

    def test_a_user_holds_only_chunks_they_uploaded(self):
        data = os.urandom(30000)
        self.assertEqual(self.put(self.grant(data), data), 200)
        self.assertEqual(self.confirm(data), [])
        self.assertIsNone(self.grant(data))  # Alice now holds it.
        # The daemon redirects alice's read to the bucket; the bytes never pass through it.
        status, body = http("GET", self.daemon.url + "/v1/chunks/" + sha256(data),
                            token=self.token)
        self.assertEqual((status, body), (200, data))  # urllib followed the redirect.

        self.daemon.stop()
        bob = self.daemon.add_user("bob")
        self.daemon.start()
        # Bob names alice's hash without uploading: not his, whatever is in the bucket.
        self.assertEqual(len(self.confirm(data, bob)), 1)
        status, _ = http("GET", self.daemon.url + "/v1/chunks/" + sha256(data), token=bob)
        self.assertEqual(status, 404)
        # Once he uploads it himself, he holds it too.
        self.assertEqual(self.put(self.grant(data, bob), data), 200)
        self.assertEqual(self.confirm(data, bob), [])

    def test_commit_refuses_chunks_that_never_reached_the_bucket(self):
        data = os.urandom(9000)
        body = json.dumps({"files": [{"path": "/f.bin", "kind": "file",
                                      "chunks": [{"hash": sha256(data), "len": len(data)}]}]})
        _, resp = http("POST", self.daemon.url + "/v1/uploads", body.encode(), self.token)
        staged = json.loads(resp)
        commit = json.dumps({"ops": [{"op": "put",
                                      "upload_id": staged["uploads"][0]["upload_id"]}]}).encode()
        _, resp = http("POST", self.daemon.url + "/v1/commit", commit, self.token)
        self.assertEqual(json.loads(resp)["results"][0]["status"], "error")
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM versions"), 0)
        # Uploaded but never confirmed: the commit itself checks the bucket and accepts it.
        self.assertEqual(self.put(staged["missing"][0], data), 200)
        _, resp = http("POST", self.daemon.url + "/v1/commit", commit, self.token)
        self.assertEqual(json.loads(resp)["results"][0]["status"], "ok")

    def test_chunk_lost_from_the_bucket_fails_the_download_naming_the_file(self):
        src = self.path("src")
        write_random(os.path.join(src, "victim.bin"), 3 << 20, seed=5)
        write_random(os.path.join(src, "fine.bin"), 100000, seed=6)
        self.cairn("init", src, "--remote", self.daemon.url + "/d", check=True)
        self.cairn_json("-C", src, "push")
        keys = self.daemon.backends.bucket.keys("chunks/")
        _, resp = http("GET", self.daemon.url + "/v1/list?path=/d/victim.bin", token=self.token)
        manifest = json.loads(resp)["entries"][0]["manifest"]
        _, body = http("GET", self.daemon.url + "/v1/manifests/" + manifest, token=self.token)
        # The manifest's first chunk hash: after the 4-byte magic and version, 32 bytes.
        victim_chunks = [k for k in keys if k.split("/")[1] in body.hex()]
        self.assertTrue(victim_chunks)
        self.daemon.delete_chunk(victim_chunks[0].split("/")[1])

        clone = self.path("clone")
        r = self.cairn("clone", self.daemon.url + "/d", clone)
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)  # Data failed verification.
        self.assertIn("victim.bin", r.stderr + r.stdout)
        self.assertIn("missing from the server's blob store", r.stderr + r.stdout)
        self.assertFalse(os.path.exists(os.path.join(clone, "victim.bin")))
        with open(os.path.join(clone, "fine.bin"), "rb") as a, \
                open(os.path.join(src, "fine.bin"), "rb") as b:
            self.assertEqual(a.read(), b.read())


    def test_secrets_never_reach_output_logs_or_errors(self):
        pg_password = "pgpw-" + os.urandom(6).hex()
        s3_secret = "s3sk-" + os.urandom(6).hex()
        backends = copy.copy(self.daemon.backends)
        pg = urllib.parse.urlparse(backends.postgres.url)
        # The test server trusts local connections, so any password is accepted.
        backends.metadata_url = pg._replace(
            netloc=f"{pg.username}:{pg_password}@{pg.hostname}:{pg.port}").geturl()
        env = dict(os.environ, AWS_SECRET_ACCESS_KEY=s3_secret)
        daemon = Daemon(self.path("secret-data"), backends=backends, env=env)
        out = daemon.init()
        daemon.start()
        try:
            src = self.path("src")
            write_random(os.path.join(src, "f.bin"), 2 << 20, seed=3)
            self.cairn("init", src, "--remote", daemon.url + "/s", check=True)
            pushed = self.cairn("-C", src, "push", "--json")
            self.assertEqual(pushed.returncode, 0, pushed.stderr)
            status, resp = http("POST", daemon.url + "/v1/chunks/confirm",
                                chunk_body(os.urandom(100)), self.token)
            self.assertEqual(status, 200, resp)
        finally:
            daemon.stop()
        conf = os.path.join(daemon.data_dir, "cairnd.conf")
        self.assertEqual(os.stat(conf).st_mode & 0o777, 0o600)
        with open(daemon.stderr_path) as f:
            log = f.read()
        self.assertIn("postgresql://postgres:***@", log)  # The start line says where, redacted.
        for text in (out.stdout, out.stderr, log, pushed.stdout, pushed.stderr, resp.decode()):
            self.assertNotIn(pg_password, text)
            self.assertNotIn(s3_secret, text)


class TwoDaemonsTest(CairnTestCase):

    def setUp(self):
        super().setUp()
        self.other = Daemon(self.path("data2"), backends=self.daemon.backends)
        self.other.init()  # Joins the database and bucket the first daemon set up.
        self.other.start()

    def tearDown(self):
        self.other.stop()
        super().tearDown()

    def test_push_through_one_clone_through_the_other(self):
        src = self.path("src")
        make_tree(src, files=300, big_size=8 << 20)
        self.cairn("init", src, "--remote", self.daemon.url + "/t", check=True)
        pushed = self.cairn_json("-C", src, "push")
        self.assertGreater(pushed["chunks_sent"], 0)
        clone = self.path("clone")
        self.cairn_json("clone", self.other.url + "/t", clone)
        self.assertEqual(tree_snapshot(src), tree_snapshot(clone))

    def test_simultaneous_pushes_to_different_paths_both_land(self):
        procs = []
        for name, daemon in (("a", self.daemon), ("b", self.other)):
            src = self.path("src-" + name)
            make_tree(src, files=150, big_size=2 << 20, seed=ord(name))
            self.cairn("init", src, "--remote", f"{daemon.url}/{name}", check=True)
            procs.append(subprocess.Popen([CAIRN, "-C", src, "push", "--json"], env=self.env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        for p in procs:
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, out + err)
        for name in ("a", "b"):
            clone = self.path("clone-" + name)
            self.cairn_json("clone", f"{self.other.url}/{name}", clone)
            self.assertEqual(tree_snapshot(self.path("src-" + name)), tree_snapshot(clone))


class OutageTest(CairnTestCase):
    """Each backend behind a proxy that can drop every connection, like a crash or a restart."""

    def setUp(self):
        super().setUp()
        self.daemon.stop()
        backends = self.daemon.backends
        pg = urllib.parse.urlparse(backends.postgres.url)
        self.pg_proxy = TcpProxy(pg.hostname, pg.port)
        s3 = urllib.parse.urlparse(backends.bucket.endpoint)
        self.s3_proxy = TcpProxy(s3.hostname, s3.port)
        proxied = copy.copy(backends)
        proxied.metadata_url = pg._replace(
            netloc=f"{pg.username}@127.0.0.1:{self.pg_proxy.port}").geturl()
        proxied.blobs_url = backends.blobs_url.replace(f"{s3.hostname}:{s3.port}",
                                                       f"127.0.0.1:{self.s3_proxy.port}")
        self.daemon = Daemon(self.path("proxied"), backends=proxied)
        self.daemon.init()
        self.daemon.start()
        self.src = self.path("src")
        write_random(os.path.join(self.src, "large.bin"), 96 << 20, seed=21)
        self.cairn("init", self.src, "--remote", self.daemon.url + "/o", check=True)

    def tearDown(self):
        super().tearDown()
        self.pg_proxy.down()
        self.s3_proxy.down()

    def interrupted_push_then_resume(self, proxy, expected_message):
        push = subprocess.Popen([CAIRN, "-C", self.src, "push", "--json", "--transfers", "1"],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        wait_for(lambda: self.daemon.sql("SELECT COUNT(*) FROM user_chunks") >= 10, timeout=120,
                 what="10 chunks to be confirmed")
        proxy.down()
        out, err = push.communicate(timeout=300)
        self.assertEqual(push.returncode, 4, out + err)  # Unreachable: a clear, retryable error.
        message = json.loads(out)["error"]["message"]
        self.assertRegex(message, expected_message)
        proxy.up()
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM versions"), 0)
        indexed = self.daemon.sql("SELECT COUNT(*) FROM user_chunks")
        resumed = self.cairn_json("-C", self.src, "push")
        self.assertEqual(resumed["files_changed"], 1)
        self.assertEqual(resumed["chunks_sent"], resumed["chunks_total"] - indexed)
        clone = self.path("clone")
        self.cairn_json("clone", self.daemon.url + "/o", clone)
        self.assertEqual(tree_snapshot(self.src), tree_snapshot(clone))

    def test_s3_outage_during_push(self):
        self.interrupted_push_then_resume(self.s3_proxy, r"S3 .*(connect|Connection)")

    def test_postgres_outage_during_push(self):
        self.interrupted_push_then_resume(self.pg_proxy, r"PostgreSQL")


def s3_error(mode):
    """What S3 answers when it is overloaded or fails inside (its documented XML errors)."""
    code, status, reason = (("SlowDown", 503, "Slow Down") if mode == "refuse" else
                            ("InternalError", 500, "Internal Server Error"))
    body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f'<Message>injected ({mode})</Message></Error>').encode()
    return status, reason, [("Content-Type", "application/xml")], body


class BucketErrorTest(CairnTestCase):
    """S3 answering 503 SlowDown before it acts, or 500 InternalError after it has, to one
    request in five: the daemon's own requests and the client's pre-signed transfers alike."""

    ATTEMPTS = 30

    def setUp(self):
        super().setUp()
        self.daemon.stop()
        backends = self.daemon.backends
        self.bucket = HttpFaultProxy(backends.bucket.endpoint)
        self.bucket.error = s3_error
        self.addCleanup(self.bucket.close)
        proxied = copy.copy(backends)
        s3 = urllib.parse.urlparse(backends.bucket.endpoint)
        proxied.blobs_url = backends.blobs_url.replace(
            f"{s3.hostname}:{s3.port}", urllib.parse.urlsplit(self.bucket.url).netloc)
        self.daemon = Daemon(self.path("proxied"), backends=proxied)
        self.daemon.init()
        self.daemon.start()

    def until_done(self, *args):
        for _ in range(self.ATTEMPTS):
            result = run([CAIRN, *args], env=self.env, timeout=300)
            if result.returncode == 0:
                return result
            # An error or "unavailable"; never a crash, and never "corrupt" (7).
            self.assertIn(result.returncode, (1, 4), f"{args}: {result.returncode}\n"
                          f"{result.stdout}\n{result.stderr}")
        self.fail(f"cairn {args} did not succeed in {self.ATTEMPTS} attempts")

    def test_pushes_and_clones_complete_and_nothing_is_lost(self):
        src = self.path("src")
        make_tree(src, files=60, big_size=6 << 20, seed=31)
        self.cairn("init", src, "--remote", self.daemon.url + "/e", check=True)
        self.bucket.random_faults(0.2, seed=4)
        self.until_done("-C", src, "push")
        write_random(os.path.join(src, "big", "big.bin"), 3 << 20, seed=32)  # An edit,
        write_random(os.path.join(src, "new.bin"), 3 << 20, seed=33)  # and a new file.
        self.until_done("-C", src, "push")
        clone = self.path("clone")
        first = run([CAIRN, "clone", self.daemon.url + "/e", clone], env=self.env, timeout=300)
        self.assertIn(first.returncode, (0, 1, 4), first.stdout + first.stderr)
        if not os.path.isdir(os.path.join(clone, ".cairn")):
            self.until_done("clone", self.daemon.url + "/e", clone)
        self.until_done("-C", clone, "pull")  # What a failed clone left out comes now.
        self.bucket.random_faults(0)

        self.assertGreater(self.bucket.injected, 10)
        self.assertEqual(tree_snapshot(clone), tree_snapshot(src))
        # One version per content: each file and link once, and the edited one once more.
        kept = sum(1 for entry in tree_snapshot(src).values() if entry[0] != "dir")
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM versions"), kept + 1)
        check = self.daemon.check("--read-data")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
