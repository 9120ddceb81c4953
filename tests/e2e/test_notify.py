"""End-to-end: /v1/notify, the WebSocket that tells connected clients a namespace they can see
advanced. Driven by a small RFC 6455 client (wsclient.py) over real sockets."""

import json
import os
import socket
import time

from harness import CAIRND, CairnTestCase, Daemon, http, read, run, wait_for, write
from wsclient import Closed, HttpRefused, WebSocket


def commits(daemon):
    """Commit requests the daemon has applied (its /metrics counter)."""
    _, body = http("GET", daemon.url + "/metrics")
    line = [l for l in body.decode().splitlines() if l.startswith("cairnd_commits_total ")]
    return int(line[0].split()[1])


class NotifyTestCase(CairnTestCase):
    """Helpers: a subscribed socket, and a push of one new file."""

    def connect(self, token, daemon=None):
        ws = WebSocket((daemon or self.daemon).url + "/v1/notify", token)
        self.addCleanup(ws.close)
        self.assertEqual(json.loads(ws.receive()), {"type": "ready"})
        return ws

    def push(self, folder, name, text, daemon=None):
        write(os.path.join(folder, name), text)
        if not os.path.isdir(os.path.join(folder, ".cairn")):
            url = (daemon or self.daemon).url + "/" + os.path.basename(folder)
            self.cairn("init", folder, "--remote", url, check=True)
        self.cairn_json("-C", folder, "push")

    def assert_changed(self, ws, within=5):
        """Asserts that the next event is "changed"; returns how long it took."""
        started = time.monotonic()
        self.assertEqual(json.loads(ws.receive(timeout=within)), {"type": "changed"})
        return time.monotonic() - started


class NotifyTest(NotifyTestCase):

    def setUp(self):
        super().setUp()
        self.bob_token = self.daemon.add_user("bob")
        self.carol_token = self.daemon.add_user("carol")

    def drain(self, ws, quiet=1.0):
        """How many events arrive until none has for `quiet` seconds."""
        got = 0
        try:
            while True:
                ws.receive(timeout=quiet)
                got += 1
        except socket.timeout:
            return got

    def assert_silent(self, ws, for_seconds=1.0):
        with self.assertRaises(socket.timeout):
            ws.receive(timeout=for_seconds)

    def test_refusals(self):
        with self.assertRaises(HttpRefused) as no_token:
            WebSocket(self.daemon.url + "/v1/notify")
        self.assertEqual(no_token.exception.status, 401)
        with self.assertRaises(HttpRefused) as bad_token:
            WebSocket(self.daemon.url + "/v1/notify", "0" * 64)
        self.assertEqual(bad_token.exception.status, 401)
        # A plain GET is told to upgrade.
        status, body = http("GET", self.daemon.url + "/v1/notify", token=self.token)
        self.assertEqual(status, 426, body)
        self.assertIn("WebSocket", json.loads(body)["error"]["message"])

    def test_owner_and_grantees_hear_others_do_not(self):
        proj = self.path("proj")
        self.push(proj, "a.txt", "one")
        self.cairn_json("share", "/proj", "bob", "--role", "viewer",
                        env=dict(self.env, CAIRN_SERVER=self.daemon.url))
        alice, bob, carol = (self.connect(t) for t in
                             (self.token, self.bob_token, self.carol_token))
        self.push(proj, "b.txt", "two")
        self.assert_changed(alice)
        self.assert_changed(bob)
        self.assert_silent(carol)
        self.drain(alice, 0.5)
        self.drain(bob, 0.5)
        # A burst of commits is coalesced, never multiplied beyond one event per commit.
        commits_before = commits(self.daemon)
        for i in range(5):
            self.push(proj, f"c{i}.txt", str(i))
        got = self.drain(alice)
        self.assertGreaterEqual(got, 1)
        self.assertLessEqual(got, commits(self.daemon) - commits_before)
        self.assertGreaterEqual(self.drain(bob, 0.5), 1)
        # A change elsewhere in alice's tree is not bob's business: he is not told of it.
        self.push(self.path("private"), "p.txt", "alice only")
        self.assert_changed(alice)
        self.assert_silent(bob, 1.0)
        # Carol's own change reaches carol only.
        carol_files = self.path("carol")
        os.makedirs(carol_files)
        write(os.path.join(carol_files, "c.txt"), "carol's")
        env = dict(self.env, CAIRN_TOKEN=self.carol_token)
        self.cairn("init", carol_files, "--remote", self.daemon.url + "/c", env=env, check=True)
        self.cairn_json("-C", carol_files, "push", env=env)
        self.assert_changed(carol)
        self.assert_silent(bob, 0.5)
        # /metrics counts the connections.
        status, body = http("GET", self.daemon.url + "/metrics")
        self.assertIn("cairnd_notify_connections 3", body.decode())

    def test_a_revoked_tokens_socket_closes_within_a_second(self):
        made = run([CAIRND, "token", "create", "bob", "--label", "watch", "--data",
                    self.daemon.data_dir], check=True).stdout.strip().splitlines()
        token = made[-1]
        ws = self.connect(token)
        listed = run([CAIRND, "token", "list", "bob", "--data", self.daemon.data_dir],
                     check=True).stdout
        token_id = [line.split()[0] for line in listed.splitlines() if "watch" in line][0]
        run([CAIRND, "token", "revoke", "bob", token_id, "--data", self.daemon.data_dir], check=True)
        revoked_at = time.monotonic()
        with self.assertRaises(Closed) as closed:
            ws.receive(timeout=5)
        self.assertLess(time.monotonic() - revoked_at, 1.5)
        self.assertEqual(closed.exception.code, 1008)
        self.assertIn("revoked", closed.exception.reason)
        # Another socket of bob's, with his other token, stays.
        other = self.connect(self.bob_token)
        self.assert_silent(other, 1.0)


class TwoDaemonNotifyTest(NotifyTestCase):
    """Several daemons on one PostgreSQL database hear each other's changes (LISTEN/NOTIFY)."""

    def setUp(self):
        super().setUp()
        self.other = Daemon(self.path("data2"), backends=self.daemon.backends)
        self.other.init()
        self.other.start()

    def tearDown(self):
        self.other.stop()
        super().tearDown()

    def test_a_push_through_one_daemon_reaches_a_socket_on_the_other(self):
        ws = self.connect(self.token, self.other)
        self.push(self.path("w"), "x.txt", "through daemon 1")
        self.assert_changed(ws)

    def test_a_lost_listening_connection_tells_every_client_to_pull(self):
        ws = self.connect(self.token, self.other)
        # Both daemons' LISTEN connections are cut; whatever was announced meanwhile is lost,
        # so each daemon, once it listens again, tells its clients to pull.
        # Only this test's database: other tests' daemons may run on the same server at once.
        killed = self.daemon.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND query LIKE 'LISTEN%'")
        self.assertGreaterEqual(killed, 2)
        self.assert_changed(ws, within=10)
        # And it hears the next push as before.
        self.push(self.path("after"), "x.txt", "after the reconnect")
        self.assert_changed(ws, within=10)

    def test_a_watcher_on_one_daemon_gets_a_push_through_the_other(self):
        from test_live import Watcher
        a, b = self.path("a"), self.path("b")
        write(os.path.join(a, "first.txt"), "first")
        self.cairn("init", a, "--remote", self.daemon.url + "/two", check=True)
        self.cairn_json("-C", a, "push")
        env_b = dict(self.env, CAIRN_SERVER=self.other.url)
        self.cairn_json("clone", self.other.url + "/two", b, env=env_b)
        watcher = Watcher(self, b, env_b)
        time.sleep(1.0)
        write(os.path.join(a, "second.txt"), "pushed through daemon 1")
        self.cairn_json("-C", a, "push")
        wait_for(lambda: os.path.exists(os.path.join(b, "second.txt")), 20,
                 "the push through daemon 1 in B, which watches through daemon 2")
        self.assertEqual(read(os.path.join(b, "second.txt")), "pushed through daemon 1")
        self.assertEqual(watcher.stop(), 0, watcher.output())
