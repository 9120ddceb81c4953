"""End-to-end: bad input, crashes and unreachable servers change nothing and say so clearly."""

import json
import os
import random
import socket
import subprocess
import time
import unittest

from harness import (CAIRN, CairnTestCase, HttpFaultProxy, http, run, sha256, tree_snapshot,
                     wait_for, write_random)


class ChunkUploadTest(CairnTestCase):

    def check(self, data):
        body = json.dumps({"chunks": [{"hash": sha256(data), "len": len(data)}]}).encode()
        status, resp = http("POST", self.daemon.url + "/v1/chunks/check", body, self.token)
        self.assertEqual(status, 200, resp)
        missing = json.loads(resp)["missing"]
        self.assertEqual(len(missing), 1)
        return missing[0]["url"]

    def test_mismatched_body_is_rejected_and_nothing_is_stored(self):
        data = os.urandom(100000)
        url = self.daemon.url + self.check(data)
        tampered = bytearray(data)
        tampered[500] ^= 1
        status, resp = http("PUT", url, bytes(tampered),
                            headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 422, resp)
        self.assertEqual(json.loads(resp)["error"]["code"], "corrupt")
        self.assertEqual(self.daemon.stored_chunk_files(), 0)
        self.assertEqual(os.listdir(os.path.join(self.daemon.data_dir, "blobs", "tmp")), [])
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM chunks"), 0)
        # Shorter than signed: rejected too.
        status, _ = http("PUT", url, data[:-1],
                         headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 400)
        self.assertEqual(self.daemon.stored_chunk_files(), 0)
        # The right bytes are then accepted, and the server now counts the chunk as present.
        status, _ = http("PUT", url, data, headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 201)
        self.assertEqual(self.daemon.stored_chunk_files(), 1)
        body = json.dumps({"chunks": [{"hash": sha256(data), "len": len(data)}]}).encode()
        _, resp = http("POST", self.daemon.url + "/v1/chunks/check", body, self.token)
        self.assertEqual(json.loads(resp)["missing"], [])

    def test_forged_or_unsigned_upload_urls_are_refused(self):
        data = os.urandom(5000)
        url = self.daemon.url + self.check(data)
        forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
        for bad in (forged, url.replace("&n=5000", "&n=4999"), url.split("?")[0],
                    url.replace("?u=1", "?u=2")):
            status, resp = http("PUT", bad, data,
                                headers={"Content-Type": "application/octet-stream"})
            self.assertIn(status, (400, 403), (bad, resp))
        self.assertEqual(self.daemon.stored_chunk_files(), 0)

    def test_chunks_of_other_users_are_not_readable_by_hash(self):
        data = os.urandom(3000)
        http("PUT", self.daemon.url + self.check(data), data,
             headers={"Content-Type": "application/octet-stream"})
        status, body = http("GET", self.daemon.url + "/v1/chunks/" + sha256(data),
                            token=self.token)
        self.assertEqual((status, body), (200, data))
        self.daemon.stop()
        bob = self.daemon.add_user("bob")
        self.daemon.start()
        status, _ = http("GET", self.daemon.url + "/v1/chunks/" + sha256(data), token=bob)
        self.assertEqual(status, 404)
        # And bob is asked to upload it himself: the check does not reveal alice's copy.
        body = json.dumps({"chunks": [{"hash": sha256(data), "len": len(data)}]}).encode()
        _, resp = http("POST", self.daemon.url + "/v1/chunks/check", body, bob)
        self.assertEqual(len(json.loads(resp)["missing"]), 1)


    def test_logs_never_contain_tokens_or_signatures(self):
        data = os.urandom(1000)
        url = self.check(data)
        http("PUT", self.daemon.url + url, data,
             headers={"Content-Type": "application/octet-stream"})
        http("GET", self.daemon.url + "/v1/whoami", token=self.token)
        self.daemon.stop()
        with open(self.daemon.stderr_path) as f:
            log = f.read()
        self.assertIn('"path":"/v1/whoami"', log)
        self.assertIn('"status":201', log)
        signature = url.split("&s=")[1]
        self.assertNotIn(self.token, log)
        self.assertNotIn(self.token[6:30], log)
        self.assertNotIn(signature, log)
        self.daemon.start()


class FuzzTest(CairnTestCase):

    def test_mutated_requests_never_crash_the_daemon(self):
        rng = random.Random(int(os.environ.get("CAIRN_FUZZ_SEED", "1234")))
        chunk = {"hash": "ab" * 32, "len": 10}
        seeds = [
            ("/v1/uploads", {"files": [{"path": "/a/b.txt", "kind": "file", "chunks": [chunk],
                                        "base_version": 1, "executable": True}]}),
            ("/v1/uploads", {"files": [{"path": "/l", "kind": "symlink", "target": "x"}]}),
            ("/v1/commit", {"device": "d", "ops": [{"op": "put", "upload_id": "u"},
                                                   {"op": "mkdir", "path": "/m"},
                                                   {"op": "delete", "path": "/m",
                                                    "base_version": 3}]}),
            ("/v1/chunks/check", {"chunks": [chunk]}),
        ]
        weird = [None, True, -1, 2 ** 70, 1.5, "", "\u0000", "../..", [], {}, "x" * 5000,
                 "/a\u202e", "\ud800", 0]

        def mutate(value):
            if isinstance(value, dict) and value and rng.random() < 0.7:
                key = rng.choice(list(value))
                copy = dict(value)
                if rng.random() < 0.2:
                    del copy[key]
                else:
                    copy[key] = mutate(copy[key])
                return copy
            if isinstance(value, list) and value and rng.random() < 0.7:
                copy = list(value)
                i = rng.randrange(len(copy))
                copy[i] = mutate(copy[i])
                return copy * rng.choice([1, 1, 2])
            return rng.choice(weird)

        for i in range(600):
            path, body = rng.choice(seeds)
            text = json.dumps(mutate(body))
            if rng.random() < 0.1:
                cut = rng.randrange(len(text))
                text = text[:cut] + rng.choice(["", "\x00", "}", "\xff"]) + text[cut + 1:]
            status, resp = http("POST", self.daemon.url + path, text.encode("utf-8", "replace"),
                                self.token)
            self.assertLess(status, 500, (i, path, text[:300], resp[:300]))
            if status != 200:
                self.assertIn("error", json.loads(resp), (i, text[:300]))
        status, body = http("GET", self.daemon.url + "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))


class RestartTest(CairnTestCase):

    def test_kill_during_push_then_resume_sends_only_missing_chunks(self):
        src = self.path("src")
        write_random(os.path.join(src, "large.bin"), 192 << 20, seed=9)
        self.cairn("init", src, "--remote", self.daemon.url + "/r", check=True)

        push = subprocess.Popen([CAIRN, "-C", src, "push", "--json", "--transfers", "1"],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        wait_for(lambda: self.daemon.sql("SELECT COUNT(*) FROM user_chunks") >= 20, timeout=60,
                 what="20 chunks to arrive")
        self.daemon.kill()
        out, err = push.communicate(timeout=120)
        self.assertEqual(push.returncode, 4, out + err)  # Server unreachable.

        indexed = self.daemon.sql("SELECT COUNT(*) FROM user_chunks")
        versions = self.daemon.sql("SELECT COUNT(*) FROM versions")
        self.assertEqual(versions, 0)  # Nothing half-committed became visible.
        self.daemon.start()
        env = dict(self.env, CAIRN_SERVER=self.daemon.url)
        resumed = self.cairn_json("-C", src, "push", env=env)
        self.assertEqual(resumed["files_changed"], 1)
        self.assertGreater(indexed, 0)
        self.assertLess(indexed, resumed["chunks_total"])
        self.assertEqual(resumed["chunks_sent"], resumed["chunks_total"] - indexed)

        clone = self.path("clone")
        self.cairn_json("clone", self.daemon.url + "/r", clone, env=env)
        with open(os.path.join(src, "large.bin"), "rb") as a, \
                open(os.path.join(clone, "large.bin"), "rb") as b:
            self.assertEqual(sha256(a.read()), sha256(b.read()))

    def test_upload_session_survives_restart(self):
        data = os.urandom(7000)
        body = json.dumps({"files": [{"path": "/kept.bin", "kind": "file",
                                      "chunks": [{"hash": sha256(data), "len": len(data)}]}]})
        status, resp = http("POST", self.daemon.url + "/v1/uploads", body.encode(), self.token)
        self.assertEqual(status, 200, resp)
        staged = json.loads(resp)
        upload_id = staged["uploads"][0]["upload_id"]
        grant = staged["missing"][0]
        commit = json.dumps({"ops": [{"op": "put", "upload_id": upload_id}]}).encode()
        # Before the chunk arrives the commit refuses, and nothing becomes visible.
        _, resp = http("POST", self.daemon.url + "/v1/commit", commit, self.token)
        self.assertEqual(json.loads(resp)["results"][0]["status"], "error")
        self.assertEqual(self.daemon.stop(), 0)  # Graceful stop on SIGTERM.
        self.daemon.start()
        # To the daemon (a relative URL) or straight to the blob store with the signed headers.
        absolute = grant["url"].startswith("http")
        status, _ = http("PUT", grant["url"] if absolute else self.daemon.url + grant["url"], data,
                         headers=dict(grant.get("headers", {}),
                                      **{"Content-Type": "application/octet-stream"}))
        self.assertEqual(status, 200 if absolute else 201)
        _, resp = http("POST", self.daemon.url + "/v1/commit", commit, self.token)
        result = json.loads(resp)["results"][0]
        self.assertEqual((result["status"], result["version"]), ("ok", 1))
        status, resp = http("GET", self.daemon.url + "/v1/list?path=/", token=self.token)
        self.assertEqual([e["path"] for e in json.loads(resp)["entries"]], ["/kept.bin"])


class BadInputTest(CairnTestCase):

    def test_malformed_requests_get_json_errors_and_the_daemon_survives(self):
        url = self.daemon.url
        cases = [
            ("POST", "/v1/uploads", b"not json", 400),
            ("POST", "/v1/uploads", b'{"files": [{"path": "/a/../b", "kind": "file", '
                                    b'"chunks": []}]}', 400),
            ("POST", "/v1/uploads", b'{"files": [{"path": "/x\\u0000y", "kind": "file", '
                                    b'"chunks": []}]}', 400),
            ("POST", "/v1/commit", b'{"ops": [{"op": "explode"}]}', 400),
            ("GET", "/v1/manifests/zz", None, 400),
            ("GET", "/v1/chunks/" + "0" * 64, None, 404),
            ("GET", "/v1/list?path=/nope", None, 404),
            ("GET", "/v1/nothing", None, 404),
            ("DELETE", "/v1/uploads", None, 405),
            ("POST", "/v1/commit", b'{"ops": [{"op": "move", "path": "/a"}]}', 400),
            ("POST", "/v1/commit", b'{"ops": [{"op": "move", "path": "/a", "to": "/../b"}]}',
             400),
            ("POST", "/v1/commit", b'{"ops": [{"op": "restore", "path": "/a", "version": 0}]}',
             400),
            ("POST", "/v1/commit", b'{"ops": [{"op": "undelete", "node_id": "x"}]}', 400),
            ("GET", "/v1/history?node_id=abc", None, 400),
            ("GET", "/v1/history", None, 400),
            ("GET", "/v1/history?path=/nope", None, 404),
            ("GET", "/v1/trash/empty", None, 405),
        ]
        for method, path, body, expected in cases:
            status, resp = http(method, url + path, body, self.token)
            self.assertEqual(status, expected, (method, path, resp[:200]))
            self.assertIn("error", json.loads(resp), path)
        status, _ = http("GET", url + "/v1/whoami", token="cairn_" + "0" * 64)
        self.assertEqual(status, 401)
        status, _ = http("GET", url + "/v1/whoami")
        self.assertEqual(status, 401)
        status, _ = http("GET", url + "/v1/whoami", headers={"X-Big": "y" * 20000})
        self.assertEqual(status, 431)
        host, port = url[len("http://"):].split(":")
        # A body over the limit is refused from its Content-Length, before it is read.
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                      self.token.encode() + b"\r\nContent-Length: 41943040\r\n\r\n")
            reply = s.recv(1000)
            self.assertIn(b" 413 ", reply.split(b"\r\n")[0])
        # Raw garbage on a socket.
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"\x00\xffGARBAGE \r\n\r\n")
            reply = s.recv(1000)
            self.assertIn(b"400", reply.split(b"\r\n")[0])
        status, body = http("GET", url + "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))

    def test_client_exit_codes_and_messages(self):
        wc = self.path("wc")
        os.makedirs(wc)
        self.cairn("init", wc, "--remote", self.daemon.url + "/p", check=True)

        bad_token = dict(self.env, CAIRN_TOKEN="cairn_" + "1" * 64)
        r = run([CAIRN, "-C", wc, "push"], env=bad_token)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("token", r.stderr)

        no_token = dict(self.env)
        no_token.pop("CAIRN_TOKEN")
        r = run([CAIRN, "-C", wc, "push"], env=no_token)
        self.assertEqual(r.returncode, 5, r.stderr)

        r = run([CAIRN, "ls", "/a/../b"], env=dict(self.env, CAIRN_SERVER=self.daemon.url))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("'..'", r.stderr)

        r = run([CAIRN, "-C", self.tmp, "push"], env=self.env)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("not inside a cairn working copy", r.stderr)

        r = run([CAIRN, "clone", self.daemon.url + "/missing", self.path("c")], env=self.env)
        self.assertEqual(r.returncode, 6, r.stderr)

        r = run([CAIRN, "init", self.path("x"), "--remote", "ftp://nope"], env=self.env)
        self.assertEqual(r.returncode, 2, r.stderr)

        self.daemon.stop()
        started = time.monotonic()
        r = run([CAIRN, "-C", wc, "push", "--json"], env=self.env)
        self.assertEqual(r.returncode, 4, r.stdout)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "unavailable")
        self.assertIn("cannot reach", json.loads(r.stdout)["error"]["message"])
        self.assertLess(time.monotonic() - started, 30)



def write_small_files(root, count, folders, max_size, ext, seed):
    """`count` files of 10 to `max_size` random bytes, dN/fI.ext, spread over `folders` folders."""
    rng = random.Random(seed)
    for i in range(count):
        folder = os.path.join(root, f"d{i % folders}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"f{i}.{ext}"), "wb") as f:
            f.write(rng.randbytes(rng.randint(10, max_size)))


class LostAnswerTest(CairnTestCase):
    """Commits whose answers never arrive: a push retries them and still commits each file once."""

    def setUp(self):
        super().setUp()
        self.proxy = HttpFaultProxy(self.daemon.url)
        self.addCleanup(self.proxy.close)

    def test_an_interrupted_push_keeps_what_it_committed(self):
        src = self.path("src")
        write_small_files(src, 2500, folders=25, max_size=2000, ext="txt", seed=5)
        self.cairn("init", src, "--remote", self.proxy.url + "/w", check=True)
        # The folders and the first commit of files land; every later commit is refused, as if
        # the server went away.
        commits = []

        def after_first_commit(method, path, body):
            if (method == "POST" and path.startswith("/v1/commit") and b'.txt"' in body and
                    not commits):
                commits.append(path)
                self.proxy.fail("POST", "/v1/commit", "refuse", 100000)
            return body

        self.proxy.rewrite = after_first_commit
        r = self.cairn("-C", src, "push", "--json")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        committed = self.daemon.sql("SELECT COUNT(*) FROM versions")
        self.assertGreater(committed, 0)
        self.assertLess(committed, 2500)
        # What landed is in the working copy's state already: status sees only the rest.
        status = self.cairn_json("-C", src, "status", "--offline")
        self.assertEqual(len(status["local"]), 2500 - committed)

        self.proxy.faults.clear()
        self.proxy.rewrite = None
        resumed = self.cairn_json("-C", src, "push")
        self.assertEqual(resumed["files_changed"], 2500 - committed)
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM versions"), 2500)
        clone = self.path("clone")
        self.cairn_json("clone", self.daemon.url + "/w", clone)
        self.assertEqual(tree_snapshot(clone), tree_snapshot(src))

    def test_push_survives_refused_and_lost_commit_answers(self):
        src = self.path("src")
        write_small_files(src, 30, folders=3, max_size=50000, ext="bin", seed=3)
        self.cairn("init", src, "--remote", self.proxy.url + "/w", check=True)
        # The daemon commits the first two attempts, but their answers are lost; the third is
        # refused before it arrives. Every one of them looks the same to the client: a 503.
        self.proxy.fail("POST", "/v1/commit", "lose", 2)
        self.proxy.fail("POST", "/v1/commit", "refuse", 1)
        first = self.cairn_json("-C", src, "push")
        self.assertEqual(self.proxy.injected, 3)
        self.assertEqual(first["errors"], [])
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM versions"), 30)  # Once each.

        again = self.cairn_json("-C", src, "push")  # Nothing left to do: the state is right.
        self.assertEqual((again["files_changed"], again["chunks_sent"]), (0, 0))
        clone = self.path("clone")
        self.cairn_json("clone", self.daemon.url + "/w", clone)
        self.assertEqual(tree_snapshot(clone), tree_snapshot(src))

        # Deletions whose answer is lost: retried, and the files are gone once.
        for i in range(3):
            os.remove(os.path.join(src, "d0", f"f{i * 3}.bin"))
        self.proxy.fail("POST", "/v1/commit", "lose", 1)
        removed = self.cairn_json("-C", src, "push")
        self.assertEqual(self.proxy.injected, 4)
        self.assertEqual(removed["errors"], [])
        self.assertEqual(removed.get("conflicts", []), [])
        status, resp = http("GET", self.daemon.url + "/v1/list?path=/w/d0", token=self.token)
        self.assertEqual(status, 200, resp)
        self.assertEqual(sorted(e["path"] for e in json.loads(resp)["entries"]),
                         sorted(f"/w/d0/f{i}.bin" for i in range(9, 30, 3)))

    def test_put_survives_a_lost_publish_answer(self):
        # A publish consumes its upload sessions: before commits carried a request id, a repeat
        # of one that had landed failed ("no upload sessions in group"), so it was not retried.
        src = self.path("backup")
        write_small_files(src, 12, folders=2, max_size=20000, ext="bin", seed=6)
        env = dict(self.env, CAIRN_SERVER=self.proxy.url)
        self.proxy.fail("POST", "/v1/commit", "lose", 1)
        out = self.cairn_json("put", src, "/backup/one", env=env)
        self.assertEqual(self.proxy.injected, 1)
        self.assertEqual(out["errors"], [])
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM versions"), 12)  # Once each.
        copy = self.path("copy")
        self.cairn("get", "/backup/one", copy, env=env, check=True)
        self.assertEqual(tree_snapshot(copy), tree_snapshot(src))

    def test_push_gives_up_on_a_server_that_stays_unavailable(self):
        src = self.path("src")
        write_random(os.path.join(src, "a.bin"), 5000, seed=4)
        self.cairn("init", src, "--remote", self.proxy.url + "/w", check=True)
        self.proxy.fail("POST", "/v1/commit", "refuse", 1000)
        result = self.cairn("-C", src, "push", "--json")
        self.assertEqual(result.returncode, 4, result.stdout + result.stderr)  # Unavailable.
        self.assertIn("injected fault", result.stdout + result.stderr)
        self.assertEqual(self.daemon.sql("SELECT COUNT(*) FROM versions"), 0)
        # Once the server answers again, the same push goes through.
        self.proxy.faults.clear()
        self.assertEqual(self.cairn_json("-C", src, "push")["files_changed"], 1)


if __name__ == "__main__":
    unittest.main()
