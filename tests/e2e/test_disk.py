"""End-to-end: full disks and failing I/O (issue 20).

- The daemon's data folder on a small tmpfs this test mounts: a push that does not fit fails with
  "server storage full" and exit 8, nothing of it half-visible, reads go on, and the same push
  completes once there is room. The same when the metadata database is what cannot grow.
- A working copy on a small tmpfs: a clone that does not fit fails with exit 8, no partial file is
  ever in place of a file, and the next pull completes once there is room.
- The metadata database on PostgreSQL, its cluster on a small tmpfs (PostgreSQL + S3): the same
  as for SQLite's file, down to a cluster that stopped for want of room and is started again.
- I/O errors injected at the system call level (tests/faults/io_faults.c, LD_PRELOAD) in the
  daemon's blob writes, blob reads and database writes: clean failures, nothing wrong ever served
  or written, everything complete once the errors stop, and `cairnd check --read-data` clean.

Mounting needs root (CI runs as root); elsewhere the tmpfs tests skip, or fail under CI=true.
"""

import copy
import json
import os
import shutil
import unittest

from harness import CairnTestCase, Daemon, http, run, tree_snapshot, write_random

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")
EXIT_NO_SPACE = 8
SHIM_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults",
                           "io_faults.c")


def require_root():
    if os.geteuid() == 0:
        return
    message = "mounting a tmpfs needs root"
    if os.environ.get("CI") == "true":
        raise AssertionError(message)
    raise unittest.SkipTest(message)


class Tmpfs:
    """A size-limited tmpfs mounted at `path`, resizable, unmounted at the end of the test."""

    def __init__(self, test, path, size):
        require_root()
        os.makedirs(path, exist_ok=True)
        run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True)
        self.path = path
        test.addCleanup(self.unmount)

    def resize(self, size):
        run(["mount", "-o", f"remount,size={size}", self.path], check=True)

    def free(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def unmount(self):
        run(["umount", "-l", self.path])


def files_of(root):
    return {rel: entry for rel, entry in tree_snapshot(root).items() if entry[0] == "file"}


class DiskTestCase(CairnTestCase):

    def make_files(self, root, count, size, seed):
        for i in range(count):
            write_random(os.path.join(root, f"f{i:03}.bin"), size, seed * 1000 + i)

    def assert_nothing_half_visible(self, remote, src):
        """Whatever the server lists under `remote` reads back as exactly the source's file."""
        out = self.path("check-" + remote.strip("/").replace("/", "-"))
        shutil.rmtree(out, ignore_errors=True)
        got = self.cairn("get", remote, out, "-q")
        if got.returncode == 6:  # Nothing of it became visible at all.
            return {}
        self.assertEqual(got.returncode, 0, got.stderr)
        listed = files_of(out)
        expected = files_of(src)
        for rel, entry in listed.items():
            self.assertEqual(entry, expected.get(rel), f"{remote}/{rel} is not its source")
        return listed


class ServerDiskFullTest(DiskTestCase):
    """The daemon's data folder (blobs and metadata.db) on a 24 MiB tmpfs."""

    def setUp(self):
        super().setUp()
        self.daemon.stop()
        self.disk = Tmpfs(self, self.path("disk"), "24m")
        self.daemon = Daemon(os.path.join(self.disk.path, "data"))
        self.daemon.init()
        self.token = self.daemon.add_user("alice")
        self.env["CAIRN_TOKEN"] = self.token
        self.daemon.start()
        self.env["CAIRN_SERVER"] = self.daemon.url

    def test_a_push_that_does_not_fit_fails_cleanly_and_completes_once_there_is_room(self):
        first = self.path("first")
        self.make_files(first, 8, 1 << 20, seed=1)
        self.cairn("put", first, "/first", "-q", check=True)
        wc = self.path("wc")
        self.make_files(wc, 24, 1 << 20, seed=2)
        self.cairn("init", wc, "--remote", "/wc", check=True)

        pushed = self.cairn("-C", wc, "push")
        self.assertEqual(pushed.returncode, EXIT_NO_SPACE, pushed.stdout + pushed.stderr)
        self.assertIn("server storage full", pushed.stderr)
        self.assertLess(len(self.assert_nothing_half_visible("/wc", wc)), 24)
        # The daemon serves reads all along.
        self.assertEqual(self.assert_nothing_half_visible("/first", first), files_of(first))
        more = self.path("more")
        self.make_files(more, 4, 1 << 20, seed=6)
        put = self.cairn("put", more, "/more", "-q")
        self.assertEqual(put.returncode, EXIT_NO_SPACE, put.stderr)  # put says it the same way.
        self.assertIn("server storage full", put.stderr)

        self.disk.resize("96m")
        again = self.cairn_json("-C", wc, "push")
        self.assertEqual(again["errors"], [])
        self.assertEqual(self.assert_nothing_half_visible("/wc", wc), files_of(wc))
        check = self.daemon.check("--read-data")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_a_metadata_database_that_cannot_grow_refuses_commits_cleanly(self):
        # Leave the database almost no room: blobs of a few tiny files fit, their rows do not.
        filler = os.path.join(self.disk.path, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (self.disk.free() - (96 << 10)))
        wc = self.path("wc")
        for i in range(1500):
            os.makedirs(os.path.join(wc, f"d{i % 30}"), exist_ok=True)
            with open(os.path.join(wc, f"d{i % 30}", f"n{i}.txt"), "w") as f:
                f.write(f"small file {i}\n")
        self.cairn("init", wc, "--remote", "/many", check=True)
        pushed = self.cairn("-C", wc, "push")
        self.assertEqual(pushed.returncode, EXIT_NO_SPACE, pushed.stdout + pushed.stderr)
        self.assertIn("server storage full", pushed.stderr)
        self.assertLess(len(self.assert_nothing_half_visible("/many", wc)), 1500)
        listing = self.cairn("ls", "/")
        self.assertEqual(listing.returncode, 0, listing.stderr)

        os.remove(filler)
        again = self.cairn_json("-C", wc, "push")
        self.assertEqual(again["errors"], [])
        self.assertEqual(self.assert_nothing_half_visible("/many", wc), files_of(wc))


class PostgresDiskFullTest(DiskTestCase):
    """The metadata on a PostgreSQL cluster of its own, on a 96 MiB tmpfs; chunks go to S3."""

    def setUp(self):
        super().setUp()
        self.daemon.stop()
        self.disk = Tmpfs(self, self.path("pgdisk"), "96m")
        os.chmod(self.tmp, 0o711)  # The server runs as postgres: it must reach its folder.
        started = run(["bash", os.path.join(SCRIPTS, "start-postgres.sh")],
                      env=dict(os.environ, CAIRN_PG_PARENT=self.disk.path), check=True)
        exports = dict(line.split(" ", 1)[1].split("=", 1) for line in started.stdout.splitlines()
                       if line.startswith("export "))
        self.cluster = exports["CAIRN_TEST_POSTGRES_DIR"]
        self.addCleanup(run, ["bash", os.path.join(SCRIPTS, "stop-postgres.sh"), self.cluster])
        backends = copy.copy(self.daemon.backends)
        backends.metadata_url = exports["CAIRN_TEST_POSTGRES_URL"]
        self.daemon = Daemon(self.path("pgdata"), backends)
        self.daemon.init()
        self.token = self.daemon.add_user("alice")
        self.env["CAIRN_TOKEN"] = self.token
        self.daemon.start()
        self.env["CAIRN_SERVER"] = self.daemon.url

    def small_files(self, root, count, seed):
        for i in range(count):
            write_random(os.path.join(root, f"d{i % 20}", f"f{i}.txt"), 200, seed * 100000 + i)

    def test_a_push_the_database_cannot_hold_fails_cleanly_and_completes_once_there_is_room(self):
        first = self.path("first")
        self.small_files(first, 50, seed=1)
        self.cairn("put", first, "/first", "-q", check=True)
        wc = self.path("wc")
        self.small_files(wc, 4000, seed=2)
        self.cairn("init", wc, "--remote", "/wc", check=True)
        # All but a megabyte of the cluster's disk taken.
        ballast = os.path.join(self.disk.path, "ballast")
        with open(ballast, "wb") as f:
            f.truncate(0)
            f.write(b"\0" * max(0, self.disk.free() - (1 << 20)))

        pushed = self.cairn("-C", wc, "push")
        self.assertEqual(pushed.returncode, EXIT_NO_SPACE, pushed.stdout + pushed.stderr)
        self.assertIn("server storage full", pushed.stderr)
        self.assertLess(len(self.assert_nothing_half_visible("/wc", wc)), 4000)
        self.assertEqual(self.assert_nothing_half_visible("/first", first), files_of(first))

        os.remove(ballast)
        again = self.cairn_json("-C", wc, "push")
        self.assertEqual(again["errors"], [])
        self.assertEqual(self.assert_nothing_half_visible("/wc", wc), files_of(wc))
        check = self.daemon.check("--read-data")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


class ClientDiskFullTest(DiskTestCase):
    """A working copy on a 12 MiB tmpfs, cloning 20 MiB."""

    def test_a_clone_that_does_not_fit_fails_cleanly_and_pull_completes_once_there_is_room(self):
        src = self.path("src")
        self.make_files(src, 20, 1 << 20, seed=3)
        env = dict(self.env, CAIRN_SERVER=self.daemon.url)
        self.cairn("put", src, "/big", "-q", env=env, check=True)
        disk = Tmpfs(self, self.path("disk"), "12m")
        clone = os.path.join(disk.path, "clone")

        cloned = self.cairn("clone", "/big", clone, env=env)
        self.assertEqual(cloned.returncode, EXIT_NO_SPACE, cloned.stdout + cloned.stderr)
        self.assertIn("No space left on device", cloned.stderr)
        present = files_of(clone)
        self.assertLess(len(present), 20)
        for rel, entry in present.items():
            self.assertEqual(entry, files_of(src)[rel], f"{rel} is not the server's file")
        leftovers = [f for _, _, fs in os.walk(os.path.join(clone, ".cairn", "tmp")) for f in fs]
        self.assertEqual(leftovers, [])  # Partial downloads are removed, not left to fill the disk.
        status = self.cairn("-C", clone, "status", "--json", env=env)
        self.assertIn(status.returncode, (0, 3), status.stderr)

        disk.resize("64m")
        pulled = self.cairn_json("-C", clone, "pull", env=env)
        self.assertEqual(pulled["errors"], [])
        self.assertEqual(files_of(clone), files_of(src))


class IoErrorTest(DiskTestCase):
    """A daemon whose blob or database I/O fails at random, through an LD_PRELOAD shim."""

    @classmethod
    def setUpClass(cls):
        cls.shim_dir = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                    f"cairn-io-faults-{os.getpid()}")
        os.makedirs(cls.shim_dir, exist_ok=True)
        cls.shim = os.path.join(cls.shim_dir, "io_faults.so")
        run(["cc", "-shared", "-fPIC", "-O2", "-o", cls.shim, SHIM_SOURCE, "-ldl"], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.shim_dir, ignore_errors=True)

    def start_faulty(self, where, write=0.0, read=0.0):
        """Restarts the daemon with the shim failing I/O under data/`where`; off until on()."""
        self.daemon.stop()
        self.switch = self.path("faults-on")
        env = dict(os.environ, LD_PRELOAD=self.shim,
                   CAIRN_FAULT_PATH=os.path.join(self.daemon.data_dir, where),
                   CAIRN_FAULT_SWITCH=self.switch, CAIRN_FAULT_WRITE=str(write),
                   CAIRN_FAULT_READ=str(read), CAIRN_FAULT_SEED="7",
                   # The shim comes before the sanitizer runtime in a sanitized build.
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        self.daemon.env = env
        self.daemon.start()
        self.env["CAIRN_SERVER"] = self.daemon.url

    def on(self):
        open(self.switch, "w").close()

    def off(self):
        os.remove(self.switch)

    def injected(self):
        log = self.path("faults.log")
        return sum(1 for _ in open(log)) if os.path.exists(log) else 0

    def push_under_faults(self, where, write):
        self.start_faulty(where, write=write)
        wc = self.path("wc")
        self.make_files(wc, 24, 300 << 10, seed=4)
        self.cairn("init", wc, "--remote", "/wc", check=True)
        self.on()
        pushed = self.cairn("-C", wc, "push")
        self.assertIn(pushed.returncode, (0, 1), pushed.stdout + pushed.stderr)
        self.assertGreater(self.injected(), 0)
        self.assert_nothing_half_visible("/wc", wc)
        self.off()
        again = self.cairn_json("-C", wc, "push")
        self.assertEqual(again["errors"], [])
        self.assertEqual(self.assert_nothing_half_visible("/wc", wc), files_of(wc))
        check = self.daemon.check("--read-data")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_blob_write_errors_fail_cleanly_and_the_push_completes_after(self):
        self.push_under_faults("blobs", write=0.3)

    def test_database_write_errors_fail_cleanly_and_the_push_completes_after(self):
        self.push_under_faults("metadata.db", write=0.2)

    def test_blob_read_errors_never_give_wrong_bytes_nor_condemn_good_data(self):
        self.start_faulty("blobs", read=0.3)
        src = self.path("src")
        self.make_files(src, 24, 300 << 10, seed=5)
        self.cairn("put", src, "/src", "-q", check=True)
        self.on()
        clone = self.path("clone")
        cloned = self.cairn("clone", "/src", clone)
        self.assertIn(cloned.returncode, (0, 1), cloned.stdout + cloned.stderr)
        self.assertGreater(self.injected(), 0)
        for rel, entry in files_of(clone).items():
            self.assertEqual(entry, files_of(src)[rel], f"{rel} is not the server's file")
        self.off()
        pulled = self.cairn_json("-C", clone, "pull")
        self.assertEqual(pulled["errors"], [])
        self.assertEqual(files_of(clone), files_of(src))
        # A read that failed is not damage: nothing was set aside or forgotten.
        check = self.daemon.check("--read-data", "--json")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        status, body = http("GET", self.daemon.url + "/v1/repairs", token=self.token)
        self.assertEqual((status, json.loads(body)), (200, {"files": []}))


if __name__ == "__main__":
    unittest.main()
