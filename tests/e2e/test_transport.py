"""End-to-end: HTTPS with a private CA (and refusals of the wrong one), plain HTTP kept to
loopback, and per-token rate limits that the client rides out."""

import os
import re
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

from harness import CAIRND, CairnTestCase, make_tree, run, tree_snapshot, wait_for, write


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder, name):
    """A self-signed CA in `folder`: NAME.pem and NAME.key."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
            name + ".pem", "-days", "2", "-subj", "/CN=" + name, cwd=folder)


def make_server_cert(folder, ca):
    """server.pem and server.key for 127.0.0.1, signed by the CA `ca`."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1", cwd=folder)
    with open(os.path.join(folder, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
            cwd=folder)


class TlsTest(CairnTestCase):

    def setUp(self):
        super().setUp()
        self.certs = self.path("certs")
        os.makedirs(self.certs)
        make_ca(self.certs, "ca")
        make_ca(self.certs, "other-ca")
        make_server_cert(self.certs, "ca")
        self.daemon.stop()
        self.daemon.start("--tls-cert", os.path.join(self.certs, "server.pem"),
                          "--tls-key", os.path.join(self.certs, "server.key"))
        self.assertTrue(self.daemon.url.startswith("https://127.0.0.1:"), self.daemon.url)

    def test_round_trip_over_https_with_a_private_ca(self):
        src = self.path("src")
        make_tree(src, files=50, big_size=3 << 20, seed=5)
        ca = os.path.join(self.certs, "ca.pem")
        self.cairn("--ca-cert", ca, "init", src, "--remote", self.daemon.url + "/t", check=True)
        pushed = self.cairn_json("-C", src, "push", "--ca-cert", ca)
        self.assertGreater(pushed["chunks_sent"], 0)
        clone = self.path("clone")
        self.cairn_json("clone", self.daemon.url + "/t", clone,
                        env=dict(self.env, CAIRN_CA_CERT=ca))
        self.assertEqual(tree_snapshot(clone), tree_snapshot(src))

    def test_live_sync_over_wss(self):
        from test_live import Watcher
        ca = os.path.join(self.certs, "ca.pem")
        env = dict(self.env, CAIRN_CA_CERT=ca)
        a, b = self.path("a"), self.path("b")
        write(os.path.join(a, "first.txt"), "first")
        self.cairn("init", a, "--remote", self.daemon.url + "/live", env=env, check=True)
        self.cairn_json("-C", a, "push", env=env)
        self.cairn_json("clone", self.daemon.url + "/live", b, env=env)
        watcher = Watcher(self, b, env)
        time.sleep(1.0)
        write(os.path.join(a, "second.txt"), "over TLS")
        self.cairn_json("-C", a, "push", env=env)
        wait_for(lambda: os.path.exists(os.path.join(b, "second.txt")), 20, "second.txt in B")
        self.assertEqual(watcher.stop(), 0, watcher.output())
        self.assertNotIn('"event":"offline"', watcher.output())  # The WebSocket held.
        # A watcher that does not trust the CA cannot connect, and says so.
        untrusting = Watcher(self, b, dict(self.env))
        time.sleep(1.5)
        untrusting.stop()
        self.assertIn("certificate", untrusting.output())

    def test_the_wrong_ca_or_none_is_refused(self):
        env = dict(self.env, CAIRN_SERVER=self.daemon.url)
        wrong = self.cairn("--ca-cert", os.path.join(self.certs, "other-ca.pem"), "ls", "/",
                           env=env)
        self.assertEqual(wrong.returncode, 4, wrong.stderr)
        self.assertIn("certificate", wrong.stderr)
        system = self.cairn("ls", "/", env=env)  # The system's CAs do not know ours.
        self.assertEqual(system.returncode, 4, system.stderr)
        self.assertIn("certificate", system.stderr)
        # Plain HTTP to the TLS port gets no answer.
        with self.assertRaises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(self.daemon.url.replace("https", "http") + "/healthz",
                                   timeout=5).read()
        # Python's own TLS stack, trusting the CA, reaches it: standard TLS, not ours alone.
        context = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.pem"))
        with urllib.request.urlopen(self.daemon.url + "/healthz", context=context,
                                    timeout=5) as response:
            self.assertEqual(response.status, 200)

    def test_plain_http_stays_on_loopback(self):
        refused = run([CAIRND, "serve", "--data", self.daemon.data_dir, "--listen", "0.0.0.0:0"],
                      timeout=30)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("refusing plain HTTP on 0.0.0.0", refused.stderr)
        bad = run([CAIRND, "serve", "--data", self.daemon.data_dir, "--listen", "127.0.0.1:0",
                   "--tls-cert", os.path.join(self.certs, "server.pem"),
                   "--tls-key", os.path.join(self.certs, "other-ca.key")], timeout=30)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("cannot use the key", bad.stderr)


class RateLimitTest(CairnTestCase):

    def setUp(self):
        super().setUp()
        self.daemon.stop()
        self.daemon.start("--rate-limit", "5/s,5")

    def get(self, path, token):
        request = urllib.request.Request(self.daemon.url + path)
        request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers)

    def test_a_burst_gets_429_and_the_client_retries_through_it(self):
        answers = []
        lock = threading.Lock()

        def hammer():
            for _ in range(10):
                answer = self.get("/v1/whoami", self.token)
                with lock:
                    answers.append(answer)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = [code for code, _ in answers]
        self.assertEqual(set(codes), {200, 429}, codes)
        self.assertLessEqual(codes.count(200), 5 + 5 * 3)  # Burst plus what refills meanwhile.
        retry_after = [int(h["Retry-After"]) for code, h in answers if code == 429]
        self.assertTrue(all(1 <= s <= 2 for s in retry_after), retry_after)
        # Another user's token has its own bucket.
        bob = self.daemon.add_user("bob")
        self.assertEqual(self.get("/v1/whoami", bob)[0], 200)

        # A push that needs more requests than the bucket holds still finishes: the client
        # waits as told and tries again.
        src = self.path("src")
        make_tree(src, files=200, big_size=12 << 20, seed=9)
        self.cairn("init", src, "--remote", self.daemon.url + "/r", check=True)
        pushed = self.cairn_json("-C", src, "push")
        self.assertEqual(pushed["errors"], [])
        clone = self.path("clone")
        self.cairn_json("clone", self.daemon.url + "/r", clone)
        self.assertEqual(tree_snapshot(clone), tree_snapshot(src))
        with urllib.request.urlopen(self.daemon.url + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
        limited = int(re.search(r"^cairnd_rate_limited_total (\d+)$", metrics, re.M).group(1))
        self.assertGreater(limited, len(retry_after))  # The push and clone were held back too.
