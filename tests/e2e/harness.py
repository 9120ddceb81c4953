"""Helpers for end-to-end tests: a real cairnd on 127.0.0.1 (port 0) and the real cairn binary.

Every test gets its own temporary folder with its own daemon data folder, working copies and
client config, so tests can run in parallel under ctest.

CAIRN_E2E_BACKEND picks the daemon's backends: "sqlite+local" (the default) or "postgres+s3",
which gives every test a fresh database on the PostgreSQL server of scripts/start-postgres.sh and
a fresh bucket on the S3 server of scripts/start-s3.sh. Without those servers such a test skips
with a message naming the scripts, unless CI=true or CAIRN_TEST_REQUIRE names the backend: then
it fails, so that no backend goes untested by accident.
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
import urllib.parse
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


BACKEND = os.environ.get("CAIRN_E2E_BACKEND", "sqlite+local")


def require_servers(*names):
    """Skips (or, in CI, fails) unless the named test servers ("postgres", "s3") are running."""
    missing = []
    if "postgres" in names and not os.environ.get("CAIRN_TEST_POSTGRES_URL"):
        missing.append('eval "$(scripts/start-postgres.sh)"')
    if "s3" in names and not os.environ.get("CAIRN_TEST_S3_URL"):
        missing.append('eval "$(scripts/start-s3.sh)"')
    if not missing:
        return
    message = "test servers not running; start them with: " + " && ".join(missing)
    required = os.environ.get("CAIRN_TEST_REQUIRE", "").split(",")
    if os.environ.get("CI") == "true" or any(n in required for n in names):
        raise AssertionError(message)
    raise unittest.SkipTest(message)


class S3Bucket:
    """A fresh bucket on the S3 test server, managed through boto3 (which moto brings along)."""

    def __init__(self):
        import boto3
        url = os.environ["CAIRN_TEST_S3_URL"]
        query = urllib.parse.parse_qs(url.split("?", 1)[1])
        self.endpoint = query["endpoint"][0].rstrip("/")
        self.name = "cairn-e2e-" + os.urandom(5).hex()
        self.blobs_url = f"s3://{self.name}?" + url.split("?", 1)[1]
        self.client = boto3.client("s3", endpoint_url=self.endpoint,
                                   region_name=query.get("region", ["us-east-1"])[0])
        self.client.create_bucket(Bucket=self.name)

    def keys(self, prefix=""):
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name,
                                                                          Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def delete(self, key):
        self.client.delete_object(Bucket=self.name, Key=key)


class Postgres:
    """A fresh database on the PostgreSQL test server."""

    def __init__(self):
        self.admin_url = os.environ["CAIRN_TEST_POSTGRES_URL"]
        self.name = "cairn_e2e_" + os.urandom(5).hex()
        run(["psql", self.admin_url, "-v", "ON_ERROR_STOP=1", "-qc",
             f"CREATE DATABASE {self.name}"], check=True)
        base, _, _ = self.admin_url.rpartition("/")
        self.url = f"{base}/{self.name}"

    def scalar(self, query):
        out = run(["psql", self.url, "-v", "ON_ERROR_STOP=1", "-Atc", query], check=True).stdout
        return int(out.strip())


class Backends:
    """Where a daemon keeps metadata and chunks; two daemons given one Backends share them."""

    def __init__(self, kind=None):
        self.kind = kind or BACKEND
        self.postgres = None
        self.bucket = None
        if self.kind == "postgres+s3":
            require_servers("postgres", "s3")
            self.postgres = Postgres()
            self.bucket = S3Bucket()
            # What cairnd is told; a test may point these through a proxy.
            self.metadata_url = self.postgres.url
            self.blobs_url = self.bucket.blobs_url
        elif self.kind != "sqlite+local":
            raise AssertionError(f"unknown CAIRN_E2E_BACKEND {self.kind!r}")

    def init_flags(self):
        if self.postgres is None:
            return []
        return ["--metadata", self.metadata_url, "--blobs", self.blobs_url]


class Daemon:
    """A cairnd process serving a data folder on a free port of 127.0.0.1."""

    def __init__(self, data_dir, backends=None, env=None):
        self.data_dir = data_dir
        self.backends = backends or Backends()
        self.env = env  # The daemon's environment; None inherits ours.
        self.proc = None
        self.url = None
        self.stderr_path = os.path.join(os.path.dirname(data_dir),
                                        os.path.basename(data_dir) + ".cairnd.stderr")

    def init(self, *extra):
        return run([CAIRND, "init", "--data", self.data_dir, *self.backends.init_flags(), *extra],
                   env=self.env, check=True)

    def add_user(self, name):
        out = run([CAIRND, "user", "add", name, "--data", self.data_dir], check=True).stdout
        return out.strip().splitlines()[-1]

    def start(self, *extra, listen="127.0.0.1:0"):
        """Starts cairnd serve; `extra`: more flags (--tls-cert, --rate-limit, ...). `listen`: a
        fixed address, for a daemon restarted where its clients expect it."""
        self.stderr_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [CAIRND, "serve", "--data", self.data_dir, "--listen", listen, *extra],
            env=self.env, stdout=subprocess.PIPE, stderr=self.stderr_file, text=True)
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

    def sql(self, query):
        """The single integer `query` returns from the daemon's metadata database."""
        if self.backends.postgres is not None:
            return self.backends.postgres.scalar(query)
        with sqlite3.connect(os.path.join(self.data_dir, "metadata.db")) as db:
            return db.execute(query).fetchone()[0]

    def sql_hex(self, query):
        """The single binary value `query` returns from the metadata database, as hex."""
        if self.backends.postgres is not None:
            out = run(["psql", self.backends.postgres.url, "-v", "ON_ERROR_STOP=1", "-Atc", query],
                      check=True).stdout.strip()
            return out[2:] if out.startswith("\\x") else out
        with sqlite3.connect(os.path.join(self.data_dir, "metadata.db")) as db:
            return db.execute(query).fetchone()[0].hex()

    def stored_chunk_files(self):
        """Chunk objects that reached the blob store: stored, or uploaded and not adopted yet."""
        if self.backends.bucket is not None:
            return len(self.backends.bucket.keys())
        root = os.path.join(self.data_dir, "blobs", "chunks")
        return sum(len(files) for _, _, files in os.walk(root))

    def delete_chunk(self, hex_digest):
        """Removes a stored chunk behind the daemon's back."""
        if self.backends.bucket is not None:
            self.backends.bucket.delete("chunks/" + hex_digest)
        else:
            os.remove(os.path.join(self.data_dir, "blobs", "chunks", hex_digest[:2],
                                   hex_digest[2:4], hex_digest))


    def execute(self, statement):
        """Runs a statement that returns nothing on the daemon's metadata database."""
        if self.backends.postgres is not None:
            run(["psql", self.backends.postgres.url, "-v", "ON_ERROR_STOP=1", "-qc", statement],
                check=True)
            return
        with sqlite3.connect(os.path.join(self.data_dir, "metadata.db")) as db:
            db.execute(statement)

    def gc(self, *args):
        """Runs cairnd gc on this daemon's data folder, while it serves."""
        return run([CAIRND, "gc", "--data", self.data_dir, *args], env=self.env)

    def blob_literal(self, hex_digest):
        """A SHA-256 as a literal of the metadata database's binary type, for sql()."""
        if self.backends.postgres is not None:
            return f"decode('{hex_digest}', 'hex')"
        return f"X'{hex_digest}'"

    def stored_packs(self):
        """The hex names of the packs in the blob store."""
        if self.backends.bucket is not None:
            return [k.rsplit("/", 1)[1] for k in self.backends.bucket.keys("packs/")]
        root = os.path.join(self.data_dir, "blobs", "packs")
        return [f for _, _, files in os.walk(root) for f in files]

    def flip_chunk_byte(self, hex_digest, offset):
        """Damages one byte of a stored chunk object behind the daemon's back."""
        if self.backends.bucket is not None:
            client, bucket = self.backends.bucket.client, self.backends.bucket.name
            key = "chunks/" + hex_digest
            body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            body[offset] ^= 0x40
            client.put_object(Bucket=bucket, Key=key, Body=bytes(body))
            return
        path = os.path.join(self.data_dir, "blobs", "chunks", hex_digest[:2], hex_digest[2:4],
                            hex_digest)
        with open(path, "r+b") as f:
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0x40]))

    def check(self, *args):
        """Runs cairnd check on this daemon's data folder, while it serves."""
        return run([CAIRND, "check", "--data", self.data_dir, *args], env=self.env)

    def flip_pack_byte(self, hex_digest, offset):
        """Damages one byte of a stored pack behind the daemon's back."""
        if self.backends.bucket is not None:
            client, bucket = self.backends.bucket.client, self.backends.bucket.name
            body = bytearray(client.get_object(Bucket=bucket, Key="packs/" + hex_digest)["Body"]
                             .read())
            body[offset] ^= 0x40
            client.put_object(Bucket=bucket, Key="packs/" + hex_digest, Body=bytes(body))
            return
        path = os.path.join(self.data_dir, "blobs", "packs", hex_digest[:2], hex_digest)
        with open(path, "r+b") as f:
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0x40]))


# The default minimum chunk size. A file of exactly this many bytes is always one chunk (the
# chunker never cuts before the minimum), and, not being shorter than the pack limit, an object
# of its own. Random data a little larger is cut in two about one time in a hundred: tests that
# need "one chunk" must use this size.
ONE_CHUNK = 256 * 1024


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


def write(path, text):
    """Writes text to path, making its folders."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tree_snapshot(root):
    """{relative path: (kind, content hash or link target, permission bits)} of everything but
    .cairn. Permission bits are part of what Cairn keeps, for files and folders alike."""
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
                out[rel] = ("link", os.readlink(full), 0)
                dirnames.remove(d)
            else:
                out[rel] = ("dir", "", os.lstat(full).st_mode & 0o777)
        for f in filenames:
            full = os.path.join(dirpath, f)
            rel = os.path.join(rel_dir, f)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full), 0)
            else:
                with open(full, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                out[rel] = ("file", digest, os.lstat(full).st_mode & 0o777)
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
        if os.environ.get("CAIRN_KEEP_TMP") is None:
            self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
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
        self.daemon.stop()

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def cairn(self, *args, cwd=None, env=None, check=False):
        return run([CAIRN, *args], env=env or self.env, check=check)

    def cairn_json(self, *args, expect_exit=0, env=None):
        result = self.cairn(*args, "--json", env=env)
        self.assertEqual(result.returncode, expect_exit,
                         f"cairn {args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
        return json.loads(result.stdout)


def run_seeds(seeds, make_run, failure, summary, keep=False):
    """A randomized test's seeds run by hand, one after another: each seed's outcome printed as it
    ends (a `failure` exception's text in full), a total, and the exit status (1 if any failed).
    `make_run(seed)` gives a run with execute(), close() and tmp; `summary(run)` says what an ok
    run did."""
    failed = []
    for seed in seeds:
        r = make_run(seed)
        try:
            r.execute()
            print(f"seed {seed}: ok ({summary(r)})", flush=True)
        except failure as e:
            print(str(e), flush=True)
            failed.append(seed)
        finally:
            r.close()
            if keep:
                print(f"  kept {r.tmp}")
    print(f"{len(seeds) - len(failed)} of {len(seeds)} seeds passed"
          + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


def accept_pair(listener, target):
    """The next client of `listener` and a fresh connection to `target` for it; None once the
    listener is closed. A client whose upstream cannot be reached is dropped."""
    import socket
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return None
        try:
            upstream = socket.create_connection(target, timeout=10)
            upstream.settimeout(None)
            return client, upstream
        except OSError:
            client.close()


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; down() drops every connection and refuses new ones,
    up() listens again on the same port. A fault-injecting wrapper around a real server."""

    def __init__(self, target_host, target_port):
        import threading
        self.target = (target_host, target_port)
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        self.port = 0
        self.up()

    def up(self):
        import socket
        import threading
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self):
        import socket
        with self.lock:
            listener, self.listener = self.listener, None
            conns, self.conns = self.conns, []
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, listener):
        import threading
        while True:
            pair = accept_pair(listener, self.target)
            if pair is None:
                return
            client, upstream = pair
            with self.lock:
                if self.listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        import socket
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class HttpFaultProxy:
    """An HTTP proxy in front of a real daemon that answers chosen requests with 503, either
    before passing them on ("refuse") or after the daemon has acted on them ("lose": the answer
    is lost on the way back). Everything else passes through unchanged."""

    def __init__(self, target_url):
        import http.server
        import threading
        self.target = urllib.parse.urlsplit(target_url).netloc
        self.lock = threading.Lock()
        self.faults = []  # [method, path prefix, mode, times left]
        self.injected = 0
        # random_faults(): each request, with this probability, refused or lost at random.
        self.rate, self.rng = 0.0, random.Random(1)
        # error(mode) -> (status, reason, headers, body): what a refused or lost request gets.
        self.error = self.daemon_unavailable
        # rewrite(method, path, body) -> body: edits answers on their way back (a lying server,
        # or a man in the middle of plain HTTP).
        self.rewrite = None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_one

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fail(self, method, prefix, mode, times):
        assert mode in ("refuse", "lose")
        with self.lock:
            self.faults.append([method, prefix, mode, times])

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def daemon_unavailable(mode):
        body = {"error": {"code": "unavailable", "message": f"injected fault ({mode})"}}
        return (503, "Service Unavailable", [("Content-Type", "application/json")],
                json.dumps(body).encode())

    def random_faults(self, rate, seed=1):
        """From now on, refuses or loses each request with probability `rate` (0: stops)."""
        with self.lock:
            self.rate, self.rng = rate, random.Random(seed)

    def _fault_for(self, method, path):
        with self.lock:
            for fault in self.faults:
                if fault[0] == method and path.startswith(fault[1]) and fault[3] > 0:
                    fault[3] -= 1
                    self.injected += 1
                    return fault[2]
            if self.rate > 0 and self.rng.random() < self.rate:
                self.injected += 1
                return self.rng.choice(("refuse", "lose"))
        return None

    def _handle(self, handler):
        import http.client
        assert "chunked" not in handler.headers.get("Transfer-Encoding", ""), "chunked request"
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length) if length else None
        mode = self._fault_for(handler.command, handler.path)
        if mode != "refuse":
            upstream = http.client.HTTPConnection(self.target, timeout=120)
            headers = {k: v for k, v in handler.headers.items()
                       if k.lower() not in ("host", "connection", "keep-alive")}
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            response = upstream.getresponse()
            status, reason, data = response.status, response.reason, response.read()
            answer_headers = [(k, v) for k, v in response.getheaders()
                              if k.lower() not in ("connection", "transfer-encoding",
                                                   "content-length", "keep-alive")]
            upstream.close()
            if self.rewrite is not None:
                data = self.rewrite(handler.command, handler.path, data)
            head_length = response.getheader("Content-Length", "0")
        if mode is not None:
            status, reason, answer_headers, data = self.error(mode)
        handler.send_response(status, reason)
        for k, v in answer_headers:
            handler.send_header(k, v)
        # A HEAD answer tells the length of what a GET would send.
        handler.send_header("Content-Length", str(head_length if handler.command == "HEAD" and
                                                  mode is None else len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)


class ChaosProxy:
    """A TCP proxy that breaks connections the way networks do, at random but seeded: while on,
    each new connection is cut after a random number of bytes in one direction (mid-request or
    mid-answer, headers or body) with probability `cut`, or stalls for `stall_seconds` at a
    random point with probability `stall`; the rest pass untouched. A fault-injecting wrapper
    around a real server (the daemon, S3, PostgreSQL); `counts` says what it did. While
    `recording` is a list, each new connection appends the bytes its client sends (a bytearray
    that grows as they pass), for a test to send them again later."""

    def __init__(self, target_host, target_port, seed=1, cut=0.3, stall=0.1, stall_seconds=1.5,
                 max_offset=2 << 20):
        import socket
        import threading
        self.target = (target_host, target_port)
        self.rng = random.Random(seed)
        self.cut, self.stall, self.stall_seconds = cut, stall, stall_seconds
        self.max_offset = max_offset
        self.on = False
        self.recording = None
        self.lock = threading.Lock()
        self.counts = {"connections": 0, "cut": 0, "stalled": 0}
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        import socket
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

    def _plan(self):
        """(direction 0: to the server, 1: back; fault "cut"/"stall"/None; byte offset)."""
        with self.lock:
            self.counts["connections"] += 1
            if not self.on:
                return None
            roll = self.rng.random()
            direction = self.rng.randrange(2)
            # Offsets spread over several scales: inside the headers, the first body bytes, deep.
            offset = int(self.rng.choice([300, 2000, 16384, 262144, self.max_offset]) *
                         self.rng.random())
            if roll < self.cut:
                return (direction, "cut", offset)
            if roll < self.cut + self.stall:
                return (direction, "stall", offset)
            return None

    def _accept(self):
        import threading
        while True:
            pair = accept_pair(self.listener, self.target)
            if pair is None:
                return
            client, upstream = pair
            plan = self._plan()
            tape = None
            with self.lock:
                if self.recording is not None:
                    tape = bytearray()
                    self.recording.append(tape)
            for direction, (src, dst) in enumerate(((client, upstream), (upstream, client))):
                fault = plan if plan is not None and plan[0] == direction else None
                threading.Thread(target=self._pipe,
                                 args=(src, dst, fault, pair, tape if direction == 0 else None),
                                 daemon=True).start()

    def _pipe(self, src, dst, fault, pair, tape):
        import socket
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if tape is not None:
                    tape.extend(data)
                if fault is not None and sent + len(data) >= fault[2]:
                    head = data[:max(0, fault[2] - sent)]
                    dst.sendall(head)
                    sent += len(head)
                    data = data[len(head):]
                    kind, fault = fault[1], None
                    with self.lock:
                        self.counts["cut" if kind == "cut" else "stalled"] += 1
                    if kind == "cut":
                        for s in pair:
                            try:
                                s.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass
                            s.close()
                        return
                    time.sleep(self.stall_seconds)
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
