"""Cairn against restic, borg, rclone and rsync on the same data, in one run (issue 4).

Corpora: a 1 GiB incompressible file; the same with one byte changed in the middle; then with
100 bytes inserted at 10 MiB; a tree of at least 50,000 files of mixed small sizes (about 1.3 GB,
two thirds compressible text); the same tree with 1% of its files edited. Each tool backs up (or
copies) every state of each corpus in turn, then restores the tree into an empty folder.

For each tool and scenario: wall time, CPU time (user + system, of the tool and, for Cairn, of
cairnd too), peak RSS, and the bytes its repository or destination holds afterwards. Then
Cairn's time and bytes as ratios of the best peer's. Cairn runs through a local cairnd
(SQLite + local disk) on 127.0.0.1.

Peers as configured: restic (repository version 2, compression auto) to a local repository,
borg with --encryption none (lz4), rclone copy and rsync -a to a local folder. rsync and rclone
keep plain copies; restic and borg deduplicate and compress. Cairn, restic and borg make their
writes durable (fsync); rsync and rclone do not.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

from bench import measure

MiB = 1 << 20
GiB = 1 << 30
PASSWORD = "cairn-bench"


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except FileNotFoundError:
                pass
    return total


def proc_cpu(pid):
    """User + system seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def reset_hwm(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def run(args, env=None, cwd=None):
    """Runs a set-up command; returns (wall s, stdout)."""
    start = time.monotonic()
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"{args} failed ({result.returncode}):\n{result.stdout.decode()[-2000:]}\n"
                 f"{result.stderr.decode()[-2000:]}")
    return time.monotonic() - start, result.stdout.decode()


# --- corpora -------------------------------------------------------------------------------------

def write_random(path, size, seed):
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 4 * MiB)
            f.write(rng.randbytes(n))
            left -= n


def text_pool(seed, size=4 * MiB):
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 9)).hex()[: rng.randint(3, 10)] for _ in range(3000)]
    out = bytearray()
    while len(out) < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
        out += line.encode() + b"\n"
    return bytes(out[:size])


def make_tree(root, files, seed):
    """`files` files in nested folders, sizes log-uniform from 100 B to 256 KiB; two in three are
    text (windows of a word pool: compressible), the rest random bytes."""
    rng = random.Random(seed)
    pool = text_pool(seed)
    total = 0
    for i in range(files):
        folder = os.path.join(root, f"d{i % 50:02d}", f"s{(i // 50) % 20:02d}")
        if i % 1000 == 0 or not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
        size = int(100 * (2621.44 ** rng.random()))  # 100 B .. 256 KiB, log-uniform.
        if i % 3 == 2:
            data = rng.randbytes(size)
        else:
            at = rng.randrange(0, len(pool) - size)
            data = pool[at:at + size]
        with open(os.path.join(folder, f"f{i:06d}.dat"), "wb") as f:
            f.write(data)
        total += size
    return total


def edit_tree(root, fraction, seed):
    """Edits `fraction` of the files: half get bytes appended, half a few bytes overwritten."""
    rng = random.Random(seed)
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                   if ".cairn" not in d)
    chosen = rng.sample(paths, max(1, int(len(paths) * fraction)))
    for i, p in enumerate(chosen):
        if i % 2 == 0:
            with open(p, "ab") as f:
                f.write(rng.randbytes(rng.randint(1, 500)))
        else:
            size = os.path.getsize(p)
            with open(p, "r+b") as f:
                f.seek(rng.randrange(0, max(1, size)))
                f.write(rng.randbytes(8))
    return len(chosen)


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def insert_bytes(path, offset, data):
    tmp = path + ".tmp"
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        dst.write(src.read(offset))
        dst.write(data)
        shutil.copyfileobj(src, dst, 16 * MiB)
    os.replace(tmp, path)


# --- tools ---------------------------------------------------------------------------------------

class Tool:
    name = ""

    def __init__(self, work):
        self.work = os.path.join(work, self.name)
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.env = dict(os.environ)

    def store(self, corpus):
        return os.path.join(self.work, corpus)

    def stored_bytes(self, corpus):
        return du(self.store(corpus))


class Rsync(Tool):
    name = "rsync"

    def backup(self, corpus, src):
        return measure(["rsync", "-a", "--delete", "--exclude=/.cairn", src + "/",
                         self.store(corpus) + "/"])

    def restore(self, corpus, dst):
        return measure(["rsync", "-a", self.store(corpus) + "/", dst + "/"])


class Rclone(Tool):
    name = "rclone"

    def backup(self, corpus, src):
        return measure(["rclone", "copy", "--exclude", "/.cairn/**", "--transfers", "4",
                         src, self.store(corpus)])

    def restore(self, corpus, dst):
        return measure(["rclone", "copy", "--transfers", "4", self.store(corpus), dst])


class Restic(Tool):
    name = "restic"

    def __init__(self, work):
        super().__init__(work)
        self.env["RESTIC_PASSWORD"] = PASSWORD
        self.env["RESTIC_CACHE_DIR"] = os.path.join(self.work, "cache")

    def backup(self, corpus, src):
        repo = self.store(corpus)
        if not os.path.exists(repo):
            run(["restic", "-r", repo, "init", "--repository-version", "2"], env=self.env)
        return measure(["restic", "-r", repo, "backup", "--quiet", "--exclude", ".cairn",
                         "--host", "bench", "."], env=self.env, cwd=src)

    def restore(self, corpus, dst):
        return measure(["restic", "-r", self.store(corpus), "restore", "latest", "--target",
                         dst], env=self.env)


class Borg(Tool):
    name = "borg"

    def __init__(self, work):
        super().__init__(work)
        self.env["BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK"] = "yes"
        self.env["BORG_RELOCATED_REPO_ACCESS_IS_OK"] = "yes"
        self.env["BORG_BASE_DIR"] = os.path.join(self.work, "home")
        self.count = 0

    def backup(self, corpus, src):
        repo = self.store(corpus)
        if not os.path.exists(repo):
            run(["borg", "init", "--encryption", "none", repo], env=self.env)
        self.count += 1
        return measure(["borg", "create", "--exclude", "./.cairn", f"{repo}::a{self.count}",
                         "."], env=self.env, cwd=src)

    def restore(self, corpus, dst):
        os.makedirs(dst, exist_ok=True)
        return measure(["borg", "extract", f"{self.store(corpus)}::a{self.count}"],
                        env=self.env, cwd=dst)


class Cairn(Tool):
    """One cairnd per corpus (so that bytes stored compare like for like), SQLite + local disk."""
    name = "cairn"

    def __init__(self, work, bin_dir):
        super().__init__(work)
        self.bin = bin_dir
        self.env["CAIRN_CONFIG"] = os.path.join(self.work, "config")
        self.daemons = {}
        self.initialised = set()

    def daemon(self, corpus):
        if corpus in self.daemons:
            return self.daemons[corpus]
        data = self.store(corpus)
        run([f"{self.bin}/cairnd", "init", "--data", data])
        _, out = run([f"{self.bin}/cairnd", "user", "add", "bench", "--data", data])
        proc = subprocess.Popen(
            [f"{self.bin}/cairnd", "serve", "--data", data, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        url = proc.stdout.readline().strip()[len("listening on "):]
        env = dict(self.env)
        env["CAIRN_TOKEN"] = out.strip().splitlines()[-1]
        self.daemons[corpus] = (proc, url, env)
        return self.daemons[corpus]

    def close(self):
        for proc, _, _ in self.daemons.values():
            proc.terminate()
            proc.wait()

    def with_daemon(self, corpus, args):
        proc, _, env = self.daemon(corpus)
        reset_hwm(proc.pid)
        cpu0 = proc_cpu(proc.pid)
        r = measure(args, env=env)
        r["cpu"] += proc_cpu(proc.pid) - cpu0
        r["daemon_rss"] = proc_hwm_mib(proc.pid)
        return r

    def backup(self, corpus, src):
        _, url, env = self.daemon(corpus)
        if src not in self.initialised:
            run([f"{self.bin}/cairn", "init", src, "--remote", f"{url}/{corpus}"], env=env)
            self.initialised.add(src)
        r = self.with_daemon(corpus, [f"{self.bin}/cairn", "-C", src, "push", "--json"])
        r["chunks_sent"] = json.loads(r["out"])["chunks_sent"]
        return r

    def restore(self, corpus, dst):
        _, url, _ = self.daemon(corpus)
        return self.with_daemon(corpus, [f"{self.bin}/cairn", "clone", f"{url}/{corpus}", dst,
                                         "--json"])


# --- driver --------------------------------------------------------------------------------------

def fmt_bytes(n):
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--dir", default=os.environ.get("CAIRN_BENCH_DIR", "/tmp/cairn-bench") +
                        "/peers")
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=50000)
    parser.add_argument("--tools", default="cairn,restic,borg,rclone,rsync")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    big_dir = os.path.join(args.dir, "src-big")
    tree_dir = os.path.join(args.dir, "src-tree")
    os.makedirs(big_dir)
    big = os.path.join(big_dir, "big.bin")
    print(f"== generating corpora in {args.dir}", flush=True)
    write_random(big, args.big_mib * MiB, 1)
    tree_bytes = make_tree(tree_dir, args.files, 2)
    print(f"   1 file of {fmt_bytes(args.big_mib * MiB)}; {args.files} files, "
          f"{fmt_bytes(tree_bytes)}", flush=True)

    work = os.path.join(args.dir, "work")
    tools = []
    for name in args.tools.split(","):
        if name == "cairn":
            tools.append(Cairn(work, args.bin))
        else:
            tools.append({"restic": Restic, "borg": Borg, "rclone": Rclone,
                          "rsync": Rsync}[name](work))

    scenarios = [
        ("initial 1 GiB", "big", None),
        ("edited 1 GiB (1 byte)", "big", lambda: flip_byte(big, args.big_mib * MiB // 2)),
        ("shifted 1 GiB (+100 B at 10 MiB)", "big",
         lambda: insert_bytes(big, min(10 * MiB, args.big_mib * MiB // 2), os.urandom(100))),
        ("no-change 1 GiB", "big", lambda: None),
        ("initial tree", "tree", None),
        ("no-change tree", "tree", lambda: None),
        ("edited tree (1%)", "tree", lambda: edit_tree(tree_dir, 0.01, 3)),
        ("restore tree", "tree", "restore"),
    ]
    results = []
    try:
        for title, corpus, change in scenarios:
            if callable(change):
                change()
            src = big_dir if corpus == "big" else tree_dir
            row = {"scenario": title, "tools": {}}
            for tool in tools:
                if change == "restore":
                    dst = os.path.join(args.dir, "restore-" + tool.name)
                    shutil.rmtree(dst, ignore_errors=True)
                    r = tool.restore(corpus, dst)
                    shutil.rmtree(dst, ignore_errors=True)
                else:
                    r = tool.backup(corpus, src)
                r.pop("out", None)
                r["stored"] = tool.stored_bytes(corpus)
                row["tools"][tool.name] = r
                extra = ""
                if "chunks_sent" in r:
                    extra = f", {r['chunks_sent']} chunks sent"
                if "daemon_rss" in r:
                    extra += f", cairnd {r['daemon_rss']:.0f} MiB"
                print(f"   {title:34s} {tool.name:7s} {r['wall']:8.2f} s wall {r['cpu']:8.2f} s "
                      f"cpu {r['rss']:7.0f} MiB rss {fmt_bytes(r['stored']):>10s} stored{extra}",
                      flush=True)
            results.append(row)
    finally:
        for tool in tools:
            if isinstance(tool, Cairn):
                tool.close()

    print()
    names = [t.name for t in tools]
    peers = [n for n in names if n != "cairn"]

    def table(title, value, fmt):
        print(f"| {title} | " + " | ".join(names) + " | cairn / best peer |")
        print("|" + "---|" * (len(names) + 2))
        for row in results:
            cells = [fmt(value(row["tools"][n])) for n in names]
            ratio = ""
            if "cairn" in row["tools"] and peers:
                best = min(value(row["tools"][n]) for n in peers)
                ratio = f"{value(row['tools']['cairn']) / best:.2f}" if best > 0 else "-"
            print(f"| {row['scenario']} | " + " | ".join(cells) + f" | {ratio} |")
        print()

    table("wall time (s)", lambda r: r["wall"], lambda v: f"{v:.2f}")
    table("CPU time (s)", lambda r: r["cpu"], lambda v: f"{v:.2f}")
    table("peak RSS (MiB)", lambda r: r["rss"], lambda v: f"{v:.0f}")
    table("bytes stored", lambda r: r["stored"], fmt_bytes)
    if "cairn" in names:
        print("cairn chunks sent: " + ", ".join(
            f"{row['scenario']}: {row['tools']['cairn'].get('chunks_sent', '-')}"
            for row in results))
        print("cairnd peak RSS (MiB): " + ", ".join(
            f"{row['scenario']}: {row['tools']['cairn'].get('daemon_rss', 0):.0f}"
            for row in results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
