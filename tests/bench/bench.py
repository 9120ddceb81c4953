"""End-to-end benchmark: drives the real cairn and cairnd through a local daemon on 127.0.0.1.

Prints wall time, throughput, and peak RSS (ru_maxrss of each process via wait4, VmHWM of the
daemon) next to `openssl dgst -sha256` of the same data, this machine's hashing limit.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20


# GNU time reports the peak RSS of the command alone. A child's own ru_maxrss also counts the
# memory of the (Python) process it was forked from, which is larger than many tools' peaks.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def measure(args, env=None, cwd=None):
    """Runs a command to completion; {"wall", "cpu" (user + system), "rss" (peak MiB), "out"}.
    Exits with the command's output if it fails."""
    rss_file = None
    if GNU_TIME:
        fd, rss_file = tempfile.mkstemp(prefix="cairn-bench-rss-")
        os.close(fd)
        args = [GNU_TIME, "-q", "-f", "%M", "-o", rss_file, *args]
    start = time.monotonic()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss / 1024.0
    if rss_file:
        with open(rss_file) as f:
            text = f.read().strip().splitlines()
        os.remove(rss_file)
        if text and text[-1].isdigit():
            rss = int(text[-1]) / 1024.0
    if code != 0:
        sys.exit(f"{args} failed ({code}):\n{out.decode()[-2000:]}\n{err.decode()[-2000:]}")
    return {"wall": elapsed, "cpu": usage.ru_utime + usage.ru_stime, "rss": rss,
            "out": out.decode()}


def run_measured(args, env=None, cwd=None):
    """Runs a command; returns (seconds, peak RSS in MiB, stdout)."""
    r = measure(args, env=env, cwd=cwd)
    return r["wall"], r["rss"], r["out"]


def backend_flags(backend):
    """cairnd init flags for a fresh store of `backend` ("sqlite+local" or "postgres+s3")."""
    if backend == "sqlite+local":
        return []
    if backend != "postgres+s3":
        sys.exit(f"unknown backend {backend!r}")
    import boto3
    import urllib.parse
    pg = os.environ["CAIRN_TEST_POSTGRES_URL"]
    name = "cairn_bench_" + os.urandom(4).hex()
    subprocess.run(["psql", pg, "-qc", f"CREATE DATABASE {name}"], check=True)
    s3 = os.environ["CAIRN_TEST_S3_URL"]
    query = s3.split("?", 1)[1]
    endpoint = urllib.parse.parse_qs(query)["endpoint"][0]
    bucket = "cairn-bench-" + os.urandom(4).hex()
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return ["--metadata", pg.rpartition("/")[0] + "/" + name, "--blobs", f"s3://{bucket}?{query}"]


class Daemon:
    backend = "sqlite+local"

    def __init__(self, bin_dir, data, serve_flags=()):
        self.bin_dir = bin_dir
        self.data = data
        subprocess.run([f"{bin_dir}/cairnd", "init", "--data", data,
                        *backend_flags(Daemon.backend)], check=True, capture_output=True)
        out = subprocess.run([f"{bin_dir}/cairnd", "user", "add", "bench", "--data", data],
                             check=True, capture_output=True, text=True).stdout
        self.token = out.strip().splitlines()[-1]
        self.proc = subprocess.Popen([f"{bin_dir}/cairnd", "serve", "--data", data, "--listen",
                                      "127.0.0.1:0", *serve_flags], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.url = self.proc.stdout.readline().strip().split()[-1]

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def make_big(path, size):
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            n = min(remaining, 16 * MiB)
            f.write(os.urandom(n))
            remaining -= n


def make_tree(root, files, seed=7):
    rng = random.Random(seed)
    total = 0
    for i in range(files):
        d = os.path.join(root, f"d{i % 50}", f"e{(i // 50) % 20}")
        os.makedirs(d, exist_ok=True)
        size = rng.choice([200, 1500, 4000, 9000, 30000])
        with open(os.path.join(d, f"f{i}.dat"), "wb") as f:
            f.write(rng.randbytes(size))
        total += size
    return total


def openssl_mb_s(path, size):
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # Warm the page cache.
    best = None
    for _ in range(2):
        start = time.monotonic()
        subprocess.run(["openssl", "dgst", "-sha256", path], stdout=subprocess.DEVNULL, check=True)
        elapsed = time.monotonic() - start
        best = elapsed if best is None else min(best, elapsed)
    return size / MiB / best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--dir", default=os.environ.get("CAIRN_BENCH_DIR", "/tmp/cairn-bench"))
    parser.add_argument("--big-mib", type=int, default=int(os.environ.get("CAIRN_BENCH_MIB", 1024)))
    parser.add_argument("--files", type=int,
                        default=int(os.environ.get("CAIRN_BENCH_FILES", 20000)))
    parser.add_argument("--backend", default="sqlite+local",
                        help="sqlite+local (default) or postgres+s3 (needs the test servers)")
    args = parser.parse_args()
    Daemon.backend = args.backend
    print(f"backend: {args.backend}")
    cairn = f"{args.bin}/cairn"

    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    env = dict(os.environ, CAIRN_CONFIG=os.path.join(args.dir, "config"))
    env.pop("CAIRN_SERVER", None)
    results = []

    # --- one big incompressible file ---
    big_size = args.big_mib * MiB
    src = os.path.join(args.dir, "big-src")
    os.makedirs(src)
    make_big(os.path.join(src, "big.bin"), big_size)
    limit = openssl_mb_s(os.path.join(src, "big.bin"), big_size)
    results.append(("openssl dgst -sha256 (hashing limit)", f"{limit:.0f} MB/s", "", ""))

    daemon = Daemon(args.bin, os.path.join(args.dir, "data-big"))
    env["CAIRN_TOKEN"] = daemon.token
    subprocess.run([cairn, "init", src, "--remote", daemon.url + "/big"], env=env, check=True,
                   capture_output=True)
    secs, rss, out = run_measured([cairn, "-C", src, "push", "--json"], env=env)
    push = json.loads(out)
    daemon_rss = daemon.peak_rss_mib()
    rate = big_size / MiB / secs
    results.append((f"push {args.big_mib} MiB (initial)", f"{rate:.0f} MB/s",
                    f"{100 * rate / limit:.0f}% of openssl", f"cairn {rss:.0f} MiB, "
                    f"cairnd {daemon_rss:.0f} MiB peak RSS"))
    secs, rss, out = run_measured([cairn, "-C", src, "push", "--json"], env=env)
    results.append(("push again, nothing changed", f"{secs * 1000:.0f} ms",
                    f"{json.loads(out)['chunks_sent']} chunks sent", ""))
    with open(os.path.join(src, "big.bin"), "r+b") as f:
        f.seek(big_size // 2)
        b = f.read(1)
        f.seek(big_size // 2)
        f.write(bytes([b[0] ^ 1]))
    secs, rss, out = run_measured([cairn, "-C", src, "push", "--json"], env=env)
    edit = json.loads(out)
    results.append(("push after 1-byte edit", f"{secs * 1000:.0f} ms",
                    f"{edit['chunks_sent']} of {edit['chunks_total']} chunks sent", ""))
    dst = os.path.join(args.dir, "big-dst")
    secs, rss, out = run_measured([cairn, "clone", daemon.url + "/big", dst], env=env)
    rate = big_size / MiB / secs
    results.append((f"pull (clone) {args.big_mib} MiB", f"{rate:.0f} MB/s", "",
                    f"cairn {rss:.0f} MiB peak RSS"))
    daemon.stop()
    shutil.rmtree(dst)
    shutil.rmtree(os.path.join(args.dir, "data-big"))

    # --- many small files ---
    tree = os.path.join(args.dir, "tree-src")
    total = make_tree(tree, args.files)
    daemon = Daemon(args.bin, os.path.join(args.dir, "data-tree"))
    env["CAIRN_TOKEN"] = daemon.token
    subprocess.run([cairn, "init", tree, "--remote", daemon.url + "/tree"], env=env, check=True,
                   capture_output=True)
    secs, rss, out = run_measured([cairn, "-C", tree, "push", "--json"], env=env)
    results.append((f"push {args.files} small files ({total / MiB:.0f} MiB)",
                    f"{args.files / secs:.0f} files/s", f"{secs:.1f} s",
                    f"cairn {rss:.0f} MiB, cairnd {daemon.peak_rss_mib():.0f} MiB peak RSS"))
    dst = os.path.join(args.dir, "tree-dst")
    secs, rss, out = run_measured([cairn, "clone", daemon.url + "/tree", dst], env=env)
    results.append((f"pull (clone) {args.files} small files", f"{args.files / secs:.0f} files/s",
                    f"{secs:.1f} s", f"cairn {rss:.0f} MiB peak RSS"))
    times = []
    for _ in range(5):
        secs, rss, out = run_measured([cairn, "-C", tree, "status", "--offline", "--json"],
                                      env=env)
        if json.loads(out)["local"]:
            sys.exit("status reported changes on an unchanged tree")
        times.append(secs)
    times.sort()
    results.append((f"status, {args.files} files, nothing changed",
                    f"{times[len(times) // 2] * 1000:.0f} ms median", f"best {times[0] * 1000:.0f} ms",
                    f"cairn {rss:.0f} MiB peak RSS"))
    daemon.stop()

    width = max(len(r[0]) for r in results)
    for name, a, b, c in results:
        print(f"  {name:<{width}}  {a:>14}  {b:<22} {c}")
    if os.environ.get("CAIRN_BENCH_KEEP") is None:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
