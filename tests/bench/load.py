"""Metadata under load (issue 18): concurrent keep-alive clients against one local cairnd.

A daemon (SQLite + local disk, --rate-limit off) gets a tree of --files small files (pushed with
the real cairn). Then, for each client count in --clients, that many threads, each with its own
keep-alive HTTP connection, issue for --seconds a mix of:
  list     GET /v1/list of one of the tree's folders
  history  GET /v1/history of one of its files
  check    POST /v1/chunks/check of --hashes chunks, all present (what a push of an unchanged
           tree asks)
  commit   POST /v1/commit of one op: a new version of one of the files, whose chunk the
           user already holds (so it is all metadata)
Per route: requests, p50 and p99 latency in ms; in all: requests/s and the daemon's CPU per
request (from /proc). The load generator runs on the same machine, so its own CPU competes with
the daemon's: the figures are an upper bound on latency.

  python3 tests/bench/load.py --bin build/bin
  python3 tests/bench/load.py --bin build/bin --clients 1,10,50 --seconds 10
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

from bench import Daemon
from peers import proc_cpu

ROUTES = ("list", "history", "check", "commit")


def make_files(root, files, seed):
    """`files` small files in 50 folders; returns {remote path: bytes}."""
    rng = random.Random(seed)
    out = {}
    for i in range(files):
        rel = f"d{i % 50:02d}/f{i:05d}.txt"
        data = rng.randbytes(rng.randint(100, 4000))
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        out["/load/" + rel] = data
    return out


class Client(threading.Thread):
    def __init__(self, url, token, files, hashes, deadline, seed):
        super().__init__(daemon=True)
        parsed = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        self.headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        self.files = files
        self.paths = sorted(files)
        # Encoded once: the generator's own JSON work must not count as the daemon's latency.
        self.check_body = json.dumps({"chunks": hashes}).encode()
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.times = {r: [] for r in ROUTES}
        self.errors = []

    def call(self, method, path, body=None):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers=self.headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status != 200:
            self.errors.append(f"{method} {path.split('?')[0]}: {resp.status} {payload[:200]!r}")
        return payload

    def one(self, route):
        path = self.rng.choice(self.paths)
        if route == "list":
            folder = path.rsplit("/", 1)[0]
            self.call("GET", "/v1/list?path=" + urllib.parse.quote(folder))
        elif route == "history":
            self.call("GET", "/v1/history?path=" + urllib.parse.quote(path))
        elif route == "check":
            self.call("POST", "/v1/chunks/check", self.check_body)
        else:
            data = self.files[path]
            # Another file's bytes (a chunk the user holds): a real new version, metadata only.
            other = self.files[self.rng.choice(self.paths)]
            chunk = {"hash": hashlib.sha256(other).hexdigest(), "len": len(other)}
            if other == data:
                return
            op = {"op": "put", "file": {"path": path, "kind": "file", "chunks": [chunk]}}
            self.call("POST", "/v1/commit", {"device": "load", "ops": [op]})

    def run(self):
        while time.monotonic() < self.deadline:
            route = self.rng.choice(ROUTES)
            start = time.monotonic()
            try:
                self.one(route)
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(f"{route}: {e}")
                return
            self.times[route].append(time.monotonic() - start)


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100.0 * len(values)))] * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--dir", default=os.environ.get("CAIRN_BENCH_DIR", "/tmp/cairn-bench") +
                        "/load")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--hashes", type=int, default=1000)
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    src = os.path.join(args.dir, "src")
    files = make_files(src, args.files, 5)
    daemon = Daemon(args.bin, os.path.join(args.dir, "data"), ["--rate-limit", "off"])
    env = dict(os.environ, CAIRN_CONFIG=os.path.join(args.dir, "config"),
               CAIRN_TOKEN=daemon.token)
    env.pop("CAIRN_SERVER", None)
    try:
        subprocess.run([f"{args.bin}/cairn", "init", src, "--remote", daemon.url + "/load"],
                       env=env, check=True, capture_output=True)
        subprocess.run([f"{args.bin}/cairn", "-C", src, "push"], env=env, check=True,
                       capture_output=True)
        present = [{"hash": hashlib.sha256(d).hexdigest(), "len": len(d)}
                   for d in list(files.values())[:args.hashes]]
        print(f"cairnd (SQLite, --rate-limit off), {args.files} files; mix of list, history, "
              f"a {len(present)}-hash check and a one-op commit; {args.seconds:.0f} s per row")
        print("| clients | route | requests | p50 ms | p99 ms |")
        print("|---|---|---|---|---|")
        for n in [int(c) for c in args.clients.split(",")]:
            deadline = time.monotonic() + args.seconds
            cpu0 = proc_cpu(daemon.proc.pid)
            started = time.monotonic()
            clients = [Client(daemon.url, daemon.token, files, present, deadline, i)
                       for i in range(n)]
            for c in clients:
                c.start()
            for c in clients:
                c.join()
            elapsed = time.monotonic() - started
            cpu = proc_cpu(daemon.proc.pid) - cpu0
            errors = [e for c in clients for e in c.errors]
            if errors:
                sys.exit(f"{len(errors)} requests failed, first: {errors[0]}")
            total = 0
            for route in ROUTES:
                times = [t for c in clients for t in c.times[route]]
                total += len(times)
                print(f"| {n} | {route} | {len(times)} | {percentile(times, 50):.1f} | "
                      f"{percentile(times, 99):.1f} |")
            print(f"| {n} | all | {total} ({total / elapsed:.0f}/s) | cairnd "
                  f"{cpu / elapsed:.2f} cores | {1e6 * cpu / max(1, total):.0f} us CPU per "
                  f"request |", flush=True)
    finally:
        daemon.stop()
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
