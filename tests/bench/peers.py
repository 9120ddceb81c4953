"""Cairn against restic, borg, rclone and rsync on the same data, in one run (issues 4 and 18).

Corpora (--corpora, all three by default):
  big   a 1 GiB incompressible file; then one byte changed in the middle; then 100 bytes
        inserted at 10 MiB; then nothing changed; then restored.
  tree  50,000 files of 100 B-256 KiB (log-uniform), two thirds compressible text.
  real  a long-tailed tree like a developer's source tree (make_real_tree): 60,000 files of
        1-16 KiB and 150 of 256 KiB-32 MiB, text and binary, folders up to 7 deep, ~1.4 GB.
Each tree is backed up (or copied), backed up again unchanged, again with 1% of its files
edited, then restored into an empty folder.

For each tool and scenario: wall time, CPU time (user + system, of the tool and, for Cairn, of
cairnd too), peak RSS, and the bytes its repository or destination holds afterwards; for Cairn
also cairnd's CPU per committed file. Then Cairn's figures as ratios of the best durable peer's.
Cairn runs through a local cairnd (SQLite + local disk) on 127.0.0.1.

Peers as configured: restic (repository version 2, compression auto) to a local repository,
borg with --encryption none (lz4), rclone copy and rsync -a to a local folder. Cairn, restic and
borg make their writes durable (fsync); rsync and rclone do not, so each also runs followed by
`sync -f DEST` ("rsync+sync", "rclone+sync"). Ratios are to the best of restic, borg,
rsync+sync and rclone+sync; the plain rsync and rclone columns are for information.
"""

import argparse
import json
import multiprocessing
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


def make_real_tree(root, small, large, seed):
    """A tree shaped like a developer's source tree: `small` files of 1-16 KiB (log-uniform; one
    in ten smaller, down to 50 B) and `large` files of 256 KiB-32 MiB (log-uniform), in about
    one folder per 15 files, 1 to 7 deep. Seven in ten small files and two in three large ones
    are text (small: windows of a word pool; large: lines drawn at random from it, so no two
    share chunks), the rest random bytes. Returns (files, bytes)."""
    rng = random.Random(seed)
    pool = text_pool(seed)
    lines = pool.split(b"\n")[:-1]
    lines = [line + b"\n" for line in lines]
    names = ["src", "lib", "test", "docs", "include", "core", "util", "net", "io", "app", "api",
             "tools", "build", "assets", "data", "vendor", "internal", "cmd", "pkg", "web"]
    folders = [("", 0)]
    for _ in range(max(1, (small + large) // 15)):
        parent, depth = rng.choice(folders)
        if depth >= 7:
            continue
        name = f"{rng.choice(names)}{rng.randrange(100)}"
        folders.append((os.path.join(parent, name), depth + 1))
    folders = sorted({f for f, d in folders if d > 0})
    for f in folders:
        os.makedirs(os.path.join(root, f), exist_ok=True)
    total = 0
    for i in range(small + large):
        if i < small:
            size = int(1024 * (16 ** rng.random())) if rng.random() < 0.9 else \
                int(50 * (20.48 ** rng.random()))
            text = rng.random() < 0.7
        else:
            size = int(256 * 1024 * (128 ** rng.random()))
            text = rng.random() < 2 / 3
        if not text:
            data = rng.randbytes(size)
        elif i < small:
            at = rng.randrange(0, len(pool) - size)
            data = pool[at:at + size]
        else:
            parts = []
            have = 0
            while have < size:
                batch = b"".join(rng.choices(lines, k=20000))
                parts.append(batch)
                have += len(batch)
            data = b"".join(parts)[:size]
        ext = ".txt" if text else ".bin"
        with open(os.path.join(root, rng.choice(folders), f"f{i:06d}{ext}"), "wb") as f:
            f.write(data)
        total += size
    return small + large, total


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


class Durable(Tool):
    """A copying peer followed by `sync -f` on its destination, so that it returns only once its
    data is on disk as Cairn, restic and borg do (issue 18's comparison)."""

    def __init__(self, work, kind):
        # Its own destination: a copy into the plain tool's would find nothing left to do.
        self.inner = kind(os.path.join(work, "durable"))
        self.name = self.inner.name + "+sync"
        self.work = self.inner.work

    def store(self, corpus):
        return self.inner.store(corpus)

    def durable(self, r, path):
        s = measure(["sync", "-f", path])
        r["wall"] += s["wall"]
        r["cpu"] += s["cpu"]
        return r

    def backup(self, corpus, src):
        return self.durable(self.inner.backup(corpus, src), self.store(corpus))

    def restore(self, corpus, dst):
        return self.durable(self.inner.restore(corpus, dst), dst)


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
        r["daemon_cpu"] = proc_cpu(proc.pid) - cpu0
        r["cpu"] += r["daemon_cpu"]
        r["daemon_rss"] = proc_hwm_mib(proc.pid)
        return r

    def backup(self, corpus, src):
        _, url, env = self.daemon(corpus)
        if src not in self.initialised:
            run([f"{self.bin}/cairn", "init", src, "--remote", f"{url}/{corpus}"], env=env)
            self.initialised.add(src)
        r = self.with_daemon(corpus, [f"{self.bin}/cairn", "-C", src, "push", "--json"])
        report = json.loads(r["out"])
        r["chunks_sent"] = report["chunks_sent"]
        r["files_committed"] = report["files_changed"]
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


DURABLE = ("restic", "borg", "rsync+sync", "rclone+sync")


def generate(args, corpora, srcs, big):
    if "big" in corpora:
        os.makedirs(srcs["big"])
        write_random(big, args.big_mib * MiB, 1)
        print(f"   big: 1 file of {fmt_bytes(args.big_mib * MiB)}", flush=True)
    if "tree" in corpora:
        tree_bytes = make_tree(srcs["tree"], args.files, 2)
        print(f"   tree: {args.files} files, {fmt_bytes(tree_bytes)}", flush=True)
    if "real" in corpora:
        n, real_bytes = make_real_tree(srcs["real"], args.real_small, args.real_large, 4)
        print(f"   real: {n} files (long-tailed sizes), {fmt_bytes(real_bytes)}", flush=True)


def forget_restores(folders, wait):
    """Deletes the restored copies, then waits for the filesystem to forget them. On ext4
    without a journal (this VM's disk) a freshly freed inode is not reused for a minute after
    its deletion reached the disk (five more while it has not): every file created meanwhile
    scans past the tens of thousands just freed (ext4's recently_deleted()). A profile of a clone
    made right after deleting a 60,000-file tree spent 30% of its CPU there. Deleting each
    tool's copy right after its restore handed that cost to whichever tool ran next."""
    for d in folders:
        shutil.rmtree(d, ignore_errors=True)
    if wait:
        subprocess.run(["sync"], check=True)
        time.sleep(65)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--dir", default=os.environ.get("CAIRN_BENCH_DIR", "/tmp/cairn-bench") +
                        "/peers")
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=50000, help="files of the small-file tree")
    parser.add_argument("--real-small", type=int, default=60000,
                        help="1-16 KiB files of the long-tailed tree")
    parser.add_argument("--real-large", type=int, default=150,
                        help="256 KiB-32 MiB files of the long-tailed tree")
    parser.add_argument("--corpora", default="big,tree,real")
    parser.add_argument("--tools", default="cairn,restic,borg,rclone,rsync")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    corpora = args.corpora.split(",")

    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    srcs = {c: os.path.join(args.dir, "src-" + c) for c in ("big", "tree", "real")}
    big = os.path.join(srcs["big"], "big.bin")
    print(f"== generating corpora in {args.dir}", flush=True)
    # In a child process: a child's peak RSS (ru_maxrss) counts the memory of the process that
    # forked it, so this one must stay small for the tools' figures to be theirs.
    generator = multiprocessing.get_context("fork").Process(
        target=generate, args=(args, corpora, srcs, big))
    generator.start()
    generator.join()
    if generator.exitcode != 0:
        sys.exit("generating the corpora failed")

    work = os.path.join(args.dir, "work")
    tools = []
    for name in args.tools.split(","):
        if name == "cairn":
            tools.append(Cairn(work, args.bin))
        elif name in ("rsync", "rclone"):
            kind = {"rclone": Rclone, "rsync": Rsync}[name]
            tools += [kind(work), Durable(work, kind)]
        else:
            tools.append({"restic": Restic, "borg": Borg}[name](work))

    scenarios = []
    if "big" in corpora:
        scenarios += [
            ("initial 1 GiB", "big", None),
            ("edited 1 GiB (1 byte)", "big", lambda: flip_byte(big, args.big_mib * MiB // 2)),
            ("shifted 1 GiB (+100 B at 10 MiB)", "big",
             lambda: insert_bytes(big, min(10 * MiB, args.big_mib * MiB // 2), os.urandom(100))),
            ("no-change 1 GiB", "big", lambda: None),
            ("restore 1 GiB", "big", "restore"),
        ]
    for corpus in ("tree", "real"):
        if corpus in corpora:
            scenarios += [
                (f"initial {corpus}", corpus, None),
                (f"no-change {corpus}", corpus, lambda: None),
                (f"edited {corpus} (1%)", corpus,
                 lambda c=corpus: edit_tree(srcs[c], 0.01, 3)),
                (f"restore {corpus}", corpus, "restore"),
            ]
    results = []
    try:
        for title, corpus, change in scenarios:
            if callable(change):
                change()
            row = {"scenario": title, "tools": {}}
            restored = []
            for tool in tools:
                if change == "restore":
                    dst = os.path.join(args.dir, "restore-" + tool.name)
                    shutil.rmtree(dst, ignore_errors=True)
                    r = tool.restore(corpus, dst)
                    restored.append(dst)
                else:
                    r = tool.backup(corpus, srcs[corpus])
                r.pop("out", None)
                r["stored"] = tool.stored_bytes(corpus)
                row["tools"][tool.name] = r
                extra = ""
                if "chunks_sent" in r:
                    extra = f", {r['chunks_sent']} chunks sent"
                if "daemon_rss" in r:
                    extra += f", cairnd {r['daemon_rss']:.0f} MiB {r['daemon_cpu']:.2f} s cpu"
                if r.get("files_committed"):
                    extra += (f" ({1e6 * r['daemon_cpu'] / r['files_committed']:.0f} us per "
                              f"committed file)")
                print(f"   {title:34s} {tool.name:11s} {r['wall']:8.2f} s wall {r['cpu']:8.2f} s "
                      f"cpu {r['rss']:7.0f} MiB rss {fmt_bytes(r['stored']):>10s} stored{extra}",
                      flush=True)
            results.append(row)
            if restored:
                forget_restores(restored, wait=corpus != "big")  # One file: nothing to wait for.
    finally:
        for tool in tools:
            if isinstance(tool, Cairn):
                tool.close()

    print()
    names = [t.name for t in tools]
    durable = [n for n in names if n in DURABLE]

    def table(title, value, fmt):
        print(f"| {title} | " + " | ".join(names) + " | cairn / best durable peer |")
        print("|" + "---|" * (len(names) + 2))
        for row in results:
            cells = [fmt(value(row["tools"][n])) for n in names]
            ratio = ""
            if "cairn" in row["tools"] and durable:
                best = min(value(row["tools"][n]) for n in durable)
                ratio = f"{value(row['tools']['cairn']) / best:.2f}" if best > 0 else "-"
            print(f"| {row['scenario']} | " + " | ".join(cells) + f" | {ratio} |")
        print()

    print("Durable peers (each returns once its data is on disk): " + ", ".join(durable) +
          ". Plain rsync and rclone never fsync; their columns are for information.\n")
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
        print("cairnd CPU per committed file (us): " + ", ".join(
            f"{row['scenario']}: "
            f"{1e6 * row['tools']['cairn']['daemon_cpu'] / row['tools']['cairn']['files_committed']:.0f}"
            for row in results if row["tools"]["cairn"].get("files_committed")))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
