"""End-to-end: tokens that expire or are revoked and users that are disabled are refused from the
next request on, through the real cairnd admin commands and the cairn client."""

import os
import subprocess

from harness import CAIRND, CairnTestCase, run


class IdentityTest(CairnTestCase):

    def admin(self, *args, check=True):
        return run([CAIRND, *args, "--data", self.daemon.data_dir], check=check)

    def ls(self, token):
        env = dict(self.env, CAIRN_TOKEN=token, CAIRN_SERVER=self.daemon.url)
        return self.cairn("ls", "/", env=env).returncode

    def test_revoked_tokens_and_disabled_users_are_refused_on_the_next_request(self):
        ci = self.admin("token", "create", "alice", "--label", "ci", "--expires", "30d")
        ci_token = ci.stdout.strip().splitlines()[-1]
        self.assertEqual(self.ls(ci_token), 0)

        listed = self.admin("token", "list", "alice").stdout.splitlines()
        self.assertEqual(len(listed), 3, listed)  # Header, the first token, ci.
        ci_row = [line for line in listed if " ci " in line][0]
        self.assertNotIn(ci_token, "\n".join(listed))  # Only hashes are stored.
        self.assertNotEqual(ci_row.split()[3], "-")   # It expires.
        ci_id = ci_row.split()[0]

        self.admin("token", "revoke", "alice", ci_id)
        self.assertEqual(self.ls(ci_token), 5)
        self.assertEqual(self.ls(self.token), 0)  # Her other token still works.
        self.assertEqual(self.admin("token", "revoke", "alice", "999", check=False).returncode, 1)
        self.assertEqual(self.admin("token", "create", "alice", "--expires", "soon",
                                    check=False).returncode, 2)

        self.admin("user", "disable", "alice")
        self.assertEqual(self.ls(self.token), 5)
        self.admin("user", "enable", "alice")
        self.assertEqual(self.ls(self.token), 0)


class DataFolderTest(CairnTestCase):
    """What cairnd init writes works from any folder: cron and systemd do not run in the one the
    admin typed the command in."""

    def test_a_relative_data_folder_is_recorded_with_absolute_paths(self):
        made = subprocess.run([CAIRND, "init", "--data", "srv"], cwd=self.tmp,
                              capture_output=True, text=True)
        self.assertEqual(made.returncode, 0, made.stderr)
        with open(os.path.join(self.tmp, "srv", "cairnd.conf")) as f:
            paths = [line.split(" = ", 1)[1].strip() for line in f
                     if " = " in line and not line.startswith("#")]
        self.assertEqual(len(paths), 2, paths)
        for p in paths:
            self.assertTrue(os.path.isabs(p), paths)
        # Another folder, as cron would run it.
        other = subprocess.run([CAIRND, "user", "add", "bob", "--data",
                                os.path.join(self.tmp, "srv")], cwd="/", capture_output=True,
                               text=True)
        self.assertEqual(other.returncode, 0, other.stderr)
        self.assertFalse(os.path.exists("/srv/metadata.db"))
        # Initialising again with the same relative folder is not a conflict.
        again = subprocess.run([CAIRND, "init", "--data", "srv"], cwd=self.tmp,
                               capture_output=True, text=True)
        self.assertEqual(again.returncode, 0, again.stderr)
