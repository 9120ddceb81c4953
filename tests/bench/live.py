"""Live sync benchmark (issue 7), on 127.0.0.1 with the real binaries:

  - propagation latency of a small file edit from working copy A to working copy B through the
    daemon, p50 and p99 over N edits, B running `cairn sync --watch`:
      "push": A pushes each edit at once (`cairn push`); from just before A's write to B's file
              holding the new bytes. The daemon's path: commit, notification, B's pull.
      "watch": A runs `cairn sync --watch` too; from A's write to B's file. Adds A's inotify
              debounce (100 ms) and its round.
  - memory of idle /v1/notify WebSocket connections: cairnd's RSS before and after opening N
    of them (each authenticated and subscribed), divided by N; then one push, and the time
    until every one of them has heard it (read in turn, so an upper bound).

  python3 tests/bench/live.py --bin build/bin [--edits 200] [--sockets 1000]
"""

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from wsclient import WebSocket  # noqa: E402


def run(args, env=None):
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100.0 * (len(ordered) - 1)))))
    return ordered[k]


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return False


def read_or_none(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def latency(bin_dir, url, env, root, edits, a_watches, folder):
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    os.makedirs(a)
    with open(os.path.join(a, "edit.txt"), "w") as f:
        f.write("start\n")
    cairn = os.path.join(bin_dir, "cairn")
    run([cairn, "init", a, "--remote", url + "/" + folder], env)
    run([cairn, "-C", a, "push"], env)
    run([cairn, "clone", url + "/" + folder, b], env)
    watchers = [subprocess.Popen([cairn, "-C", b, "sync", "--watch", "-q"], env=env)]
    if a_watches:
        watchers.append(subprocess.Popen([cairn, "-C", a, "sync", "--watch", "-q"], env=env))
    time.sleep(1.5)  # Connected, first rounds done.
    target = os.path.join(b, "edit.txt")
    samples = []
    try:
        for i in range(edits):
            text = f"edit {i} {os.urandom(8).hex()}\n"
            start = time.monotonic()
            with open(os.path.join(a, "edit.txt"), "w") as f:
                f.write(text)
            if not a_watches:
                run([cairn, "-C", a, "push", "-q"], env)
            if not wait_until(lambda: read_or_none(target) == text, 30):
                sys.exit(f"edit {i} did not reach B within 30 s")
            samples.append((time.monotonic() - start) * 1000.0)
            time.sleep(0.05)
    finally:
        for w in watchers:
            w.send_signal(signal.SIGINT)
            w.wait(timeout=30)
    return samples


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--sockets", type=int, default=1000)
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin)
    # Each socket costs a descriptor here and one in cairnd (which inherits this limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.sockets * 2 + 256)), hard))

    root = tempfile.mkdtemp(prefix="cairn-live-bench-")
    daemon = None
    try:
        data = os.path.join(root, "data")
        cairnd = os.path.join(bin_dir, "cairnd")
        run([cairnd, "init", "--data", data])
        token = run([cairnd, "user", "add", "alice", "--data", data]).strip().splitlines()[-1]
        daemon = subprocess.Popen([cairnd, "serve", "--data", data, "--listen", "127.0.0.1:0",
                                   "--rate-limit", "off"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        url = daemon.stdout.readline().strip()[len("listening on "):]
        env = dict(os.environ, CAIRN_TOKEN=token, CAIRN_CONFIG=os.path.join(root, "config"))
        env.pop("CAIRN_SERVER", None)

        for mode, a_watches in (("push", False), ("watch", True)):
            sub = os.path.join(root, mode)
            samples = latency(bin_dir, url, env, sub, args.edits, a_watches, "bench-" + mode)
            print(f"propagation A -> B ({mode}): {len(samples)} edits, "
                  f"p50 {statistics.median(samples):.0f} ms, "
                  f"p99 {percentile(samples, 99):.0f} ms, max {max(samples):.0f} ms")

        before = rss_kib(daemon.pid)
        sockets = []
        for _ in range(args.sockets):
            ws = WebSocket(url + "/v1/notify", token)
            if ws.receive() != '{"type":"ready"}':
                sys.exit("no ready event")
            sockets.append(ws)
        time.sleep(1.0)
        after = rss_kib(daemon.pid)
        metrics = urllib.request.urlopen(url + "/metrics").read().decode()
        open_count = [l for l in metrics.splitlines() if l.startswith("cairnd_notify_connections ")]
        per = (after - before) * 1024.0 / args.sockets
        print(f"idle WebSockets: {args.sockets} open ({open_count[0].split()[1]} by /metrics), "
              f"cairnd RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB, "
              f"{per / 1024:.1f} KiB per connection")
        # Fan-out: one push, and every one of the sockets hears it.
        fan = os.path.join(root, "fan")
        os.makedirs(fan)
        with open(os.path.join(fan, "x.txt"), "w") as f:
            f.write("fan-out\n")
        cairn = os.path.join(bin_dir, "cairn")
        run([cairn, "init", fan, "--remote", url + "/fan"], env)
        start = time.monotonic()
        run([cairn, "-C", fan, "push", "-q"], env)
        pushed = time.monotonic()
        for ws in sockets:
            if ws.receive(timeout=30) != '{"type":"changed"}':
                sys.exit("a socket did not hear the push")
        heard = time.monotonic()
        print(f"fan-out: one push ({(pushed - start) * 1000:.0f} ms) heard on all "
              f"{len(sockets)} sockets {(heard - start) * 1000:.0f} ms after it started")
        for ws in sockets:
            ws.close()
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    import urllib.request  # noqa: E402
    main()
