"""The .deb packages as an admin uses them (issue 22): built by scripts/package.sh from the build
tree under test, installed with dpkg -i, cairnd run as the packaged `cairn` user on the packaged
data folder /var/lib/cairn, a push and a clone through the installed binaries, the units checked
with systemd-analyze, every manual page rendered with man -l, and both packages removed and purged.

Needs root and a machine without Cairn installed (the test installs and removes the packages and
the `cairn` user). Elsewhere it skips, unless CI=true: then it fails, so that CI never skips it.
"""

import glob
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest

from harness import BIN_DIR, run, tree_snapshot, write, write_random

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.path.abspath(os.path.join(BIN_DIR, ".."))
DATA = "/var/lib/cairn"
PACKAGES = ("cairn", "cairnd")


def installed(package):
    result = run(["dpkg-query", "-W", "-f=${Status}", package])
    return result.returncode == 0 and result.stdout.endswith(" installed")


def processes_running(exe):
    """PIDs whose executable is `exe` (what the package installed, not a test build's binary)."""
    pids = []
    for entry in glob.glob("/proc/[0-9]*/exe"):
        try:
            if os.readlink(entry) == exe:
                pids.append(int(entry.split("/")[2]))
        except OSError:
            pass
    return pids


class PackageTest(unittest.TestCase):

    def setUp(self):
        why = None
        if os.geteuid() != 0:
            why = "needs root (dpkg -i)"
        elif any(installed(p) for p in PACKAGES):
            why = "cairn or cairnd is installed on this machine; the test would remove it"
        elif os.path.exists(DATA) and os.listdir(DATA):
            why = f"{DATA} holds data; the test would use it"
        if why:
            if os.environ.get("CI") == "true":
                self.fail(f"PackageTest cannot run in CI: {why}")
            self.skipTest(why)
        self.made_user = False
        self.tmp = tempfile.mkdtemp(prefix="cairn-package-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.addCleanup(self.clean_machine, existed=os.path.exists(DATA))

    def clean_machine(self, existed):
        """Leaves the machine as it was: packages purged, the user and data folder we made gone."""
        run(["dpkg", "--purge", *PACKAGES])
        if not existed:
            shutil.rmtree(DATA, ignore_errors=True)
        if self.made_user:
            run(["deluser", "--quiet", "--system", "cairn"])
            run(["delgroup", "--quiet", "--system", "cairn"])

    def step(self, args, **kwargs):
        """Runs a command that must succeed; kwargs go to subprocess.run (env, user, group)."""
        result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
        self.assertEqual(result.returncode, 0,
                         f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def test_install_serve_push_clone_and_remove(self):
        debs = self.build_packages()
        had_user = run(["getent", "passwd", "cairn"]).returncode == 0
        self.step(["dpkg", "-i", *debs])
        self.made_user = not had_user
        self.check_installed_layout()
        self.check_units_and_pages()
        self.serve_and_sync()
        self.remove_and_purge()

    def build_packages(self):
        # Uncompressed (stripped, as by default): what is checked here does not depend on it,
        # and xz over the sanitized binaries takes a while.
        env = dict(os.environ, CAIRN_DEB_COMPRESSION="none")
        out = self.step(["bash", os.path.join(ROOT, "scripts", "package.sh"), "--from", BUILD_DIR],
                        env=env).stdout
        folder = out.strip().splitlines()[-1]
        debs = sorted(glob.glob(os.path.join(folder, "*.deb")))
        self.assertEqual([os.path.basename(d).split("_")[0] for d in debs], ["cairn", "cairnd"])
        for deb in debs:
            depends = self.step(["dpkg-deb", "-f", deb, "Depends"]).stdout
            # shlibdeps found the shared libraries the binary links.
            self.assertIn("libc6", depends)
            self.assertIn("libsqlite3-0", depends)
        daemon_depends = self.step(["dpkg-deb", "-f", debs[1], "Depends"]).stdout
        self.assertIn("libpqxx", daemon_depends)
        self.assertIn("adduser", daemon_depends)
        return debs

    def check_installed_layout(self):
        for path in ["/usr/bin/cairn", "/usr/bin/cairnd"]:
            self.assertTrue(os.access(path, os.X_OK), path)
        version = self.step(["/usr/bin/cairnd", "--version"]).stdout
        self.assertRegex(version, r"\d+\.\d+\.\d+")
        for path in ["/usr/share/bash-completion/completions/cairn",
                     "/usr/share/bash-completion/completions/cairnd",
                     "/usr/share/zsh/vendor-completions/_cairn",
                     "/usr/share/fish/vendor_completions.d/cairn.fish",
                     "/usr/lib/systemd/system/cairnd.service",
                     "/usr/lib/systemd/user/cairn-sync@.service",
                     "/etc/default/cairnd"]:
            self.assertTrue(os.path.isfile(path), path)
        # A system user of its own, with the data folder as its home and no login shell.
        user = pwd.getpwnam("cairn")
        self.assertLess(user.pw_uid, 1000)
        self.assertEqual(user.pw_dir, DATA)
        self.assertTrue(user.pw_shell.endswith("nologin") or user.pw_shell == "/bin/false")
        info = os.stat(DATA)
        self.assertEqual((info.st_uid, stat.S_IMODE(info.st_mode)), (user.pw_uid, 0o750))
        # Installing started nothing.
        self.assertEqual(processes_running("/usr/bin/cairnd"), [])
        self.assertFalse(os.path.exists(os.path.join(DATA, "metadata.db")))

    def check_units_and_pages(self):
        for unit in ["/usr/lib/systemd/system/cairnd.service",
                     "/usr/lib/systemd/user/cairn-sync@.service"]:
            result = run(["systemd-analyze", "verify", unit])
            self.assertEqual(result.returncode, 0, f"{unit}:\n{result.stdout}{result.stderr}")
            self.assertEqual(result.stderr.strip(), "", f"{unit} has warnings")
        service = open("/usr/lib/systemd/system/cairnd.service").read()
        for setting in ["User=cairn", "ProtectSystem=strict", "ReadWritePaths=/var/lib/cairn",
                        "NoNewPrivileges=yes", "Restart=on-failure",
                        "ExecStart=/usr/bin/cairnd serve --data /var/lib/cairn"]:
            self.assertIn(setting, service)
        pages = [p for p in self.package_files() if "/share/man/" in p and os.path.isfile(p)]
        names = {os.path.basename(p) for p in pages}
        # One page per command and subcommand, generated from the CLI definitions.
        for name in ["cairn.1", "cairn-push.1", "cairn-sync.1", "cairn-put.1", "cairnd.8",
                     "cairnd-serve.8", "cairnd-backup.8", "cairnd-user-add.8"]:
            self.assertIn(name, names)
        for page in pages:
            result = run(["man", "-l", page], env=dict(os.environ, MANWIDTH="80"))
            self.assertEqual(result.returncode, 0, f"{page}: {result.stderr}")
            self.assertIn("NAME", result.stdout, page)
            self.assertIn("SYNOPSIS", result.stdout, page)
        serve = run(["man", "-l", "/usr/share/man/man8/cairnd-serve.8"],
                    env=dict(os.environ, MANWIDTH="200")).stdout
        self.assertIn("--listen", serve)
        self.assertIn("--max-connections", serve)

    def package_files(self):
        return self.step(["dpkg", "-L", *PACKAGES]).stdout.split()

    def as_cairn(self, *args):
        return self.step(["/usr/bin/cairnd", *args, "--data", DATA], user="cairn", group="cairn",
                         extra_groups=[])

    def serve_and_sync(self):
        self.as_cairn("init")
        token = self.as_cairn("user", "add", "alice").stdout.strip().splitlines()[-1]
        metadata = os.stat(os.path.join(DATA, "metadata.db"))
        self.assertEqual(metadata.st_uid, pwd.getpwnam("cairn").pw_uid)
        self.assertEqual(stat.S_IMODE(metadata.st_mode), 0o600)
        log = open(os.path.join(self.tmp, "cairnd.stderr"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            ["/usr/bin/cairnd", "serve", "--data", DATA, "--listen", "127.0.0.1:0"],
            user="cairn", group="cairn", extra_groups=[], stdout=subprocess.PIPE, stderr=log,
            text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        line = proc.stdout.readline().strip()
        self.assertTrue(line.startswith("listening on "), line)
        url = line[len("listening on "):]
        self.assertEqual(processes_running("/usr/bin/cairnd"), [proc.pid])

        env = dict(os.environ, CAIRN_CONFIG=os.path.join(self.tmp, "config"), CAIRN_DEVICE="pkg")
        env.pop("CAIRN_TOKEN", None)
        env.pop("CAIRN_SERVER", None)
        cairn = "/usr/bin/cairn"
        self.step([cairn, "login", url, "--token", token], env=env)
        work = os.path.join(self.tmp, "work")
        os.makedirs(work)
        write(os.path.join(work, "notes.txt"), "installed from a package\n")
        write_random(os.path.join(work, "data", "blob.bin"), 3 << 20, seed=22)
        self.step([cairn, "init", work, "--remote", "/docs"], env=env)
        self.step([cairn, "-C", work, "push"], env=env)
        clone = os.path.join(self.tmp, "clone")
        self.step([cairn, "clone", "/docs", clone], env=env)
        self.assertEqual(tree_snapshot(clone), tree_snapshot(work))
        self.assertEqual(self.step([cairn, "cat", "/docs/notes.txt"], env=env).stdout,
                         "installed from a package\n")

        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0, "cairnd stops cleanly on SIGTERM")
        proc.stdout.close()
        # Everything the daemon wrote belongs to its user.
        owner = pwd.getpwnam("cairn").pw_uid
        for folder, _, files in os.walk(DATA):
            for name in files:
                self.assertEqual(os.stat(os.path.join(folder, name)).st_uid, owner, name)

    def remove_and_purge(self):
        files = [p for p in self.package_files() if os.path.isfile(p)]
        self.step(["dpkg", "-r", *PACKAGES])
        for p in PACKAGES:
            self.assertFalse(installed(p), p)
        left = [p for p in files if os.path.exists(p)]
        # Removal keeps the conffile (until purge) and the data: nothing else of the packages.
        self.assertEqual(left, ["/etc/default/cairnd"])
        self.assertTrue(os.path.exists(os.path.join(DATA, "metadata.db")))
        purge = self.step(["dpkg", "--purge", *PACKAGES])
        self.assertFalse(os.path.exists("/etc/default/cairnd"))
        self.assertIn("/var/lib/cairn", purge.stderr, "purge says the data folder is kept")
        self.assertTrue(os.path.exists(os.path.join(DATA, "metadata.db")))


if __name__ == "__main__":
    unittest.main()
