"""Helpers for end-to-end tests: a real cairnd on 127.0.0.1 (port 0) and the real cairn binary.

Every test gets its own temporary folder with its own daemon data folder, working copies and
client config, so tests can run in parallel under ctest.
"""

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BIN_DIR = os.environ.get("CAIRN_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
CAIRN = os.path.join(BIN_DIR, "cairn")
CAIRND = os.path.join(BIN_DIR, "cairnd")


def wait_for(predicate, timeout=20.0, what="condition"):
    """Polls `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Daemon:
    """A cairnd process serving a data folder on a free port of 127.0.0.1."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.proc = None
        self.url = None
        self.stderr_path = os.path.join(os.path.dirname(data_dir), "cairnd.stderr")

    def init(self, *extra):
        run([CAIRND, "init", "--data", self.data_dir, *extra], check=True)

    def add_user(self, name):
        out = run([CAIRND, "user", "add", name, "--data", self.data_dir], check=True).stdout
        return out.strip().splitlines()[-1]

    def start(self):
        self.stderr_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [CAIRND, "serve", "--data", self.data_dir, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.stderr_file, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise AssertionError(f"cairnd did not start: {line!r}; see {self.stderr_path}")
        self.url = line[len("listening on "):]
        return self.url

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=20)
        finally:
            self.proc.stdout.close()
            self.stderr_file.close()
            self.proc = None
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def db(self):
        return sqlite3.connect(os.path.join(self.data_dir, "metadata.db"))

    def stored_chunk_files(self):
        root = os.path.join(self.data_dir, "blobs", "chunks")
        return sum(len(files) for _, _, files in os.walk(root))


def run(args, env=None, check=False, input=None, timeout=600):
    result = subprocess.run(args, env=env, capture_output=True, text=True, input=input,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\nstdout: {result.stdout}\n"
                             f"stderr: {result.stderr}")
    return result


def http(method, url, body=None, token=None, headers=None):
    """Returns (status, body bytes) without raising on HTTP errors."""
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tree_snapshot(root):
    """{relative path: (kind, content hash or link target, executable)} of everything but .cairn."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            rel_dir = ""
        if rel_dir.split(os.sep)[0] == ".cairn":
            continue
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            rel = os.path.join(rel_dir, d)
            if rel == ".cairn":
                continue
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full), False)
                dirnames.remove(d)
            else:
                out[rel] = ("dir", "", False)
        for f in filenames:
            full = os.path.join(dirpath, f)
            rel = os.path.join(rel_dir, f)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full), False)
            else:
                with open(full, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                out[rel] = ("file", digest, os.access(full, os.X_OK))
    return out


def write_random(path, size, seed):
    rng = random.Random(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        remaining = size
        while remaining > 0:
            n = min(remaining, 1 << 20)
            f.write(rng.randbytes(n))
            remaining -= n


def make_tree(root, files=1000, big_size=64 << 20, seed=1):
    """The issue's tree: many small files in nested folders, a big file, empty files, an empty
    folder, unicode names and names with spaces, an executable and a symlink."""
    rng = random.Random(seed)
    for i in range(files):
        folder = os.path.join(root, f"dir{i % 17}", f"sub{i % 5}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"file {i}.txt"), "wb") as f:
            f.write(rng.randbytes(rng.randint(1, 6000)))
    write_random(os.path.join(root, "big", "big.bin"), big_size, seed + 1)
    open(os.path.join(root, "empty.txt"), "wb").close()
    open(os.path.join(root, "dir1", "also empty"), "wb").close()
    os.makedirs(os.path.join(root, "empty folder", "nested empty"), exist_ok=True)
    with open(os.path.join(root, "Grüße – naïve 日本語.txt"), "w", encoding="utf-8") as f:
        f.write("unicode name\n")
    script = os.path.join(root, "tools", "run.sh")
    os.makedirs(os.path.dirname(script), exist_ok=True)
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho hello\n")
    os.chmod(script, 0o755)
    os.symlink("../empty.txt", os.path.join(root, "tools", "link-to-empty"))
    os.symlink("does/not/exist", os.path.join(root, "dangling"))


class CairnTestCase(unittest.TestCase):
    """A fresh temp folder, daemon and user per test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cairn-e2e-")
        self.daemon = Daemon(os.path.join(self.tmp, "data"))
        self.daemon.init()
        self.token = self.daemon.add_user("alice")
        self.daemon.start()
        self.env = dict(os.environ)
        self.env["CAIRN_CONFIG"] = os.path.join(self.tmp, "client-config")
        self.env["CAIRN_TOKEN"] = self.token
        self.env["CAIRN_DEVICE"] = "e2e"
        self.env.pop("CAIRN_SERVER", None)

    def tearDown(self):
        try:
            self.daemon.stop()
        finally:
            if os.environ.get("CAIRN_KEEP_TMP") is None:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def cairn(self, *args, cwd=None, env=None, check=False):
        return run([CAIRN, *args], env=env or self.env, check=check)

    def cairn_json(self, *args, expect_exit=0, env=None):
        result = self.cairn(*args, "--json", env=env)
        self.assertEqual(result.returncode, expect_exit,
                         f"cairn {args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
        return json.loads(result.stdout)
