"""End-to-end: live sync. Two working copies under `cairn sync --watch` against one daemon (the
real binaries; inotify on real folders; the /v1/notify WebSocket through a fault-injecting TCP
proxy where a test cuts it), offline edits, and the exit codes of `cairn sync --wait`."""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse

from harness import CAIRN, CairnTestCase, TcpProxy, read, tree_snapshot, wait_for, write


class Watcher:
    """A `cairn sync --watch --json` process on a working copy."""

    def __init__(self, test, folder, env, *extra):
        self.log_path = folder.rstrip("/") + ".watch.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CAIRN, "-C", folder, "sync", "--watch", "--json",
                                      "--rescan", "60000", *extra],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        test.addCleanup(self.stop)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


def snapshot(root):
    """The tree without the state folder; None while a sync is replacing a file under it (a
    pull renames a local edit aside, then writes the server's version)."""
    try:
        return {k: v for k, v in tree_snapshot(root).items() if not k.startswith(".cairn")}
    except FileNotFoundError:
        return None


class LiveSyncTest(CairnTestCase):

    def setUp(self):
        super().setUp()
        self.a, self.b = self.path("a"), self.path("b")
        write(os.path.join(self.a, "readme.txt"), "a live folder\n")
        self.cairn("init", self.a, "--remote", self.daemon.url + "/live", check=True)
        self.cairn_json("-C", self.a, "push")
        self.cairn_json("clone", self.daemon.url + "/live", self.b,
                        env=dict(self.env, CAIRN_DEVICE="device-b"))
        self.env_a = dict(self.env, CAIRN_DEVICE="device-a")
        self.env_b = dict(self.env, CAIRN_DEVICE="device-b")

    def converge(self, what, timeout=30):
        def same():
            a = snapshot(self.a)
            return a is not None and a == snapshot(self.b)
        wait_for(same, timeout=timeout, what=what)

    def test_changes_flow_both_ways(self):
        wa = Watcher(self, self.a, self.env_a)
        wb = Watcher(self, self.b, self.env_b)
        time.sleep(1.0)  # Both connected and through their first round.

        # A new file, an edit, a rename, a delete and a new folder in A appear in B.
        write(os.path.join(self.a, "new.txt"), "made in A\n")
        wait_for(lambda: os.path.exists(os.path.join(self.b, "new.txt")), 30, "new file in B")
        write(os.path.join(self.a, "new.txt"), "edited in A\n")
        wait_for(lambda: read(os.path.join(self.b, "new.txt")) == "edited in A\n", 30, "edit")
        os.rename(os.path.join(self.a, "new.txt"), os.path.join(self.a, "renamed.txt"))
        wait_for(lambda: os.path.exists(os.path.join(self.b, "renamed.txt")) and
                 not os.path.exists(os.path.join(self.b, "new.txt")), 30, "rename in B")
        os.makedirs(os.path.join(self.a, "folder", "deep"))
        write(os.path.join(self.a, "folder", "deep", "f.txt"), "in a new folder\n")
        wait_for(lambda: os.path.exists(os.path.join(self.b, "folder", "deep", "f.txt")), 30,
                 "new folder in B")
        os.remove(os.path.join(self.a, "renamed.txt"))
        wait_for(lambda: not os.path.exists(os.path.join(self.b, "renamed.txt")), 30,
                 "delete in B")

        # And the reverse.
        write(os.path.join(self.b, "from-b.txt"), "made in B\n")
        wait_for(lambda: os.path.exists(os.path.join(self.a, "from-b.txt")), 30, "new file in A")
        write(os.path.join(self.b, "folder", "deep", "f.txt"), "edited in B\n")
        wait_for(lambda: read(os.path.join(self.a, "folder", "deep", "f.txt")) ==
                 "edited in B\n", 30, "edit in A")
        os.rename(os.path.join(self.b, "folder"), os.path.join(self.b, "moved"))
        wait_for(lambda: os.path.exists(os.path.join(self.a, "moved", "deep", "f.txt")), 30,
                 "folder rename in A")
        os.remove(os.path.join(self.b, "from-b.txt"))
        wait_for(lambda: not os.path.exists(os.path.join(self.a, "from-b.txt")), 30,
                 "delete in A")
        self.converge("identical trees")
        self.assertEqual(wa.stop(), 0, wa.output())
        self.assertEqual(wb.stop(), 0, wb.output())
        # Each watcher printed its rounds as JSON lines.
        rounds = [json.loads(line) for line in wb.output().splitlines()
                  if line.startswith("{")]
        self.assertTrue(any(r["pull"]["files_changed"] > 0 for r in rounds), wb.output())

    def test_a_burst_with_the_websocket_cut_in_the_middle(self):
        # B reaches the daemon through a proxy; halfway through A's burst the proxy drops
        # every connection and refuses new ones for two seconds.
        port = urllib.parse.urlsplit(self.daemon.url).port
        proxy = TcpProxy("127.0.0.1", port)
        self.addCleanup(proxy.down)
        env_b = dict(self.env_b, CAIRN_SERVER=f"http://127.0.0.1:{proxy.port}")
        wa = Watcher(self, self.a, self.env_a)
        wb = Watcher(self, self.b, env_b)
        time.sleep(1.0)
        for i in range(1000):
            write(os.path.join(self.a, "burst", f"f{i:04}.txt"), f"file {i}\n")
            if i == 500:
                wait_for(lambda: os.path.isdir(os.path.join(self.b, "burst")), 30,
                         "the first files in B")
                proxy.down()
                time.sleep(2)
                proxy.up()
        wait_for(lambda: len(os.listdir(os.path.join(self.b, "burst"))) == 1000
                 if os.path.isdir(os.path.join(self.b, "burst")) else False, 60,
                 "all 1,000 files in B")
        self.converge("identical trees")
        self.assertIn('"event":"offline"', wb.output())
        # The files may all arrive through the watcher's retried syncs before its notification
        # socket's next try (its backoff outlasts the two seconds down): wait for that try.
        wait_for(lambda: '"event":"online"' in wb.output(), 30, "B's notifications back online")
        self.assertEqual(wa.stop(), 0, wa.output())
        self.assertEqual(wb.stop(), 0, wb.output())

    def test_a_file_being_written_is_sent_once_complete(self):
        # A debounce ten times the writer's pause, so that a loaded machine does not make the
        # writer look finished; what is tested is the round that the burst forces.
        wa = Watcher(self, self.a, self.env_a, "--debounce", "500")
        Watcher(self, self.b, self.env_b)
        time.sleep(1.0)
        # A writer appends for 4 s, more than the 3 s after which a burst forces a round.
        path = os.path.join(self.a, "growing.log")
        with open(path, "w") as f:
            for i in range(80):
                f.write(f"line {i}\n")
                f.flush()
                time.sleep(0.05)
        complete = read(path)
        wait_for(lambda: os.path.exists(os.path.join(self.b, "growing.log")) and
                 read(os.path.join(self.b, "growing.log")) == complete, 30, "the whole file in B")
        history = self.cairn_json("history", "/live/growing.log",
                                  env=dict(self.env, CAIRN_SERVER=self.daemon.url))
        # Never a half-written version: the only one on the server is the complete file.
        self.assertEqual([v["size"] for v in history["versions"]], [len(complete)],
                         wa.output())

    def test_offline_edits_merge_on_reconnect(self):
        write(os.path.join(self.a, "shared.txt"), "v1\n")
        write(os.path.join(self.a, "a-only.txt"), "a\n")
        self.cairn_json("-C", self.a, "push", env=self.env_a)
        self.cairn_json("-C", self.b, "pull", env=self.env_b)

        port = urllib.parse.urlsplit(self.daemon.url).port
        proxy = TcpProxy("127.0.0.1", port)
        self.addCleanup(proxy.down)
        env_a = dict(self.env_a, CAIRN_SERVER=f"http://127.0.0.1:{proxy.port}")
        wa = Watcher(self, self.a, env_a)
        wb = Watcher(self, self.b, self.env_b)
        time.sleep(1.0)

        proxy.down()  # A is offline; B is not.
        write(os.path.join(self.a, "shared.txt"), "A's offline edit\n")
        write(os.path.join(self.a, "offline-a.txt"), "written offline\n")
        write(os.path.join(self.b, "shared.txt"), "B's edit\n")
        write(os.path.join(self.b, "online-b.txt"), "written online\n")
        os.remove(os.path.join(self.a, "a-only.txt"))
        time.sleep(3)
        self.assertEqual(read(os.path.join(self.a, "shared.txt")), "A's offline edit\n")
        proxy.up()

        self.converge("both sides converged after the reconnect", timeout=60)
        names = sorted(os.listdir(self.a))
        copies = [n for n in names if "conflicted copy" in n]
        self.assertEqual(len(copies), 1, names)
        contents = {read(os.path.join(self.a, "shared.txt")), read(os.path.join(self.a, copies[0]))}
        self.assertEqual(contents, {"A's offline edit\n", "B's edit\n"})
        self.assertIn("offline-a.txt", names)
        self.assertIn("online-b.txt", names)
        self.assertNotIn("a-only.txt", os.listdir(self.b))
        self.assertEqual(wa.stop(), 0, wa.output())
        self.assertEqual(wb.stop(), 0, wb.output())


class SyncWaitTest(CairnTestCase):

    def test_exit_codes(self):
        a = self.path("a")
        write(os.path.join(a, "x.txt"), "x\n")
        self.cairn("init", a, "--remote", self.daemon.url + "/w", check=True)
        done = self.cairn_json("-C", a, "sync", "--wait")
        self.assertTrue(done["in_sync"], done)
        self.assertEqual(done["push"]["files_changed"], 1)

        # Conflicted copies present: 3.
        b = self.path("b")
        self.cairn_json("clone", self.daemon.url + "/w", b)
        write(os.path.join(a, "x.txt"), "a's edit\n")
        write(os.path.join(b, "x.txt"), "b's edit\n")
        self.cairn_json("-C", a, "sync", "--wait")
        conflicted = self.cairn_json("-C", b, "sync", "--wait", expect_exit=3)
        self.assertEqual(len(conflicted["conflicted_copies"]), 1, conflicted)
        pulled = self.cairn_json("-C", a, "sync", "--wait", expect_exit=3)
        self.assertEqual(pulled["conflicted_copies"], conflicted["conflicted_copies"])

        # Unauthorised: 5, at once.
        bad = dict(self.env, CAIRN_TOKEN="0" * 64)
        result = self.cairn("-C", a, "sync", "--wait", "--timeout", "30", "--json", env=bad)
        self.assertEqual(result.returncode, 5, result.stdout + result.stderr)

        # Unreachable: 4, after retrying until the timeout. The daemon is reached through a
        # proxy that refuses connections while it is down.
        proxy = TcpProxy("127.0.0.1", urllib.parse.urlsplit(self.daemon.url).port)
        self.addCleanup(proxy.down)
        via_proxy = dict(self.env, CAIRN_SERVER=f"http://127.0.0.1:{proxy.port}")
        proxy.down()
        started = time.monotonic()
        result = self.cairn("-C", a, "sync", "--wait", "--timeout", "3", "--json",
                            env=via_proxy)
        self.assertEqual(result.returncode, 4, result.stdout + result.stderr)
        self.assertGreaterEqual(time.monotonic() - started, 2.5)
        # Without --timeout it does not retry.
        result = self.cairn("-C", a, "sync", "--wait", "--json", env=via_proxy)
        self.assertEqual(result.returncode, 4, result.stdout + result.stderr)

        # A server that comes back within the timeout: 0, and the offline edits are there
        # (a new file, and the conflicted copy, pulled earlier, resolved by deleting it).
        write(os.path.join(a, "later.txt"), "made while the server was down\n")
        for name in os.listdir(a):
            if "conflicted copy" in name:
                os.remove(os.path.join(a, name))
        proc = subprocess.Popen([CAIRN, "-C", a, "sync", "--wait", "--timeout", "60", "--json"],
                                env=via_proxy, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(2)
        proxy.up()
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, out + err)
        self.assertTrue(json.loads(out)["in_sync"])
        listed = self.cairn_json("ls", "/w/later.txt",
                                 env=dict(self.env, CAIRN_SERVER=self.daemon.url))
        self.assertEqual(listed["entries"][0]["size"], len("made while the server was down\n"))


class IgnoreTest(CairnTestCase):

    def test_cairnignore(self):
        a, b, c = self.path("a"), self.path("b"), self.path("c")
        write(os.path.join(a, ".cairnignore"), "# scratch\n*.tmp\nbuild/\n")
        write(os.path.join(a, "x.tmp"), "scratch")
        write(os.path.join(a, "build", "out.bin"), "output")
        write(os.path.join(a, "src", "a.c"), "int a;")
        write(os.path.join(a, "kept.txt"), "synced, then ignored")
        self.cairn("init", a, "--remote", self.daemon.url + "/ign", check=True)
        pushed = self.cairn_json("-C", a, "push")
        self.assertEqual(sorted(pushed["changed"]), [".cairnignore", "kept.txt", "src/a.c"])

        # check-ignore names the rule; exit 0 if anything is ignored, 1 if nothing is.
        why = self.cairn_json("-C", a, "check-ignore", "x.tmp", "build/out.bin", "src/a.c",
                              expect_exit=0)
        by_path = {p["path"]: p for p in why["paths"]}
        self.assertEqual((by_path["x.tmp"]["source"], by_path["x.tmp"]["line"],
                          by_path["x.tmp"]["pattern"]), (".cairnignore", 2, "*.tmp"))
        self.assertEqual(by_path["build/out.bin"]["via"], "build")
        self.assertFalse(by_path["src/a.c"]["ignored"])
        self.cairn_json("-C", a, "check-ignore", "src/a.c", expect_exit=1)

        # The rules travel with the tree.
        self.cairn_json("clone", self.daemon.url + "/ign", b)
        self.assertEqual(sorted(os.listdir(b)), [".cairn", ".cairnignore", "kept.txt", "src"])
        write(os.path.join(b, "y.tmp"), "b's scratch")
        self.assertEqual(self.cairn_json("-C", b, "push")["files_changed"], 0)

        # A synced file that becomes ignored stays on the server.
        write(os.path.join(a, ".cairnignore"), "# scratch\n*.tmp\nbuild/\nkept.txt\n")
        os.remove(os.path.join(a, "kept.txt"))
        pushed = self.cairn_json("-C", a, "push")
        self.assertEqual(pushed["deleted"], [])
        self.cairn_json("-C", b, "pull")
        self.assertEqual(read(os.path.join(b, "kept.txt")), "synced, then ignored")

        # Pushed from a working copy without the rules, an ignored path is not pulled here.
        write(os.path.join(c, "remote.tmp"), "from elsewhere")
        self.cairn("init", c, "--remote", self.daemon.url + "/ign", check=True)
        self.cairn_json("-C", c, "push")
        pulled = self.cairn_json("-C", a, "pull")
        self.assertNotIn("remote.tmp", pulled["changed"])
        self.assertFalse(os.path.exists(os.path.join(a, "remote.tmp")))
        status = self.cairn_json("-C", a, "status")
        self.assertEqual(status["local"], [], status)
