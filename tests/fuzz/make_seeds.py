#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/TARGET/seed-* (deterministic; rerun after a format
change). Inputs that once broke something are kept beside them as crash-* and never rewritten.

    python3 tests/fuzz/make_seeds.py
"""

import hashlib
import json
import os
import struct
import subprocess

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def uvarint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def manifest(chunks):
    out = b"CRNM\x01" + uvarint(len(chunks))
    for data in chunks:
        out += hashlib.sha256(data).digest() + uvarint(len(data))
    return out


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-1"], input=data, capture_output=True,
                          check=True).stdout


def pack(chunks):
    """Pack v1 (docs/formats.md) of (data, compress) pairs."""
    header = b"CRNP\x01" + bytes(range(16)) + uvarint(len(chunks))
    body = b""
    for data, compress in chunks:
        stored = zstd(data) if compress else data
        header += (hashlib.sha256(data).digest() + bytes([1 if compress else 0])
                   + uvarint(len(data)) + uvarint(len(stored)))
        body += stored
    return header + body


def seeds():
    a, b = b"hello, world\n", bytes(range(256)) * 3
    yield "manifest", "empty", manifest([])
    yield "manifest", "two", manifest([a, b])
    yield "manifest", "bad-version", b"CRNM\x02\x00"
    yield "pack", "raw", b"\x10" + pack([(a, False), (b, False)])
    yield "pack", "zstd", b"\x03" + pack([(b"z" * 5000, True), (a, False)])
    yield "pack", "truncated", b"\x00" + pack([(a, False)])[:-3]
    for i, p in enumerate(["/", "/docs/a b.txt", "docs//x/", "/a/../b", "/Caf\u00e9/na\u0308",
                           "/.CAIRN/x", "/x/" + "n" * 255, "\x01/bad"]):
        yield "remote_path", f"p{i}", p.encode()
    for i, t in enumerate(["now", "90m", "3d", "2w", "@1800000000", "@1800000000.250",
                           "1800000000", "2026-11-20", "2026-11-20T14:30",
                           "2026-11-20 14:30:05", "2026-11-20T14:30:05.250Z",
                           "2026-11-20T14:30:05+01:00", "25h", "-5m", "9999999999999999999s"]):
        yield "time", f"t{i}", t.encode()
    h = hashlib.sha256(a).hexdigest()
    messages = {
        2: {"chunks": [h, h]},
        9: {"manifests": [h]},
        11: {"files": [{"path": "/docs/a.txt", "kind": "file", "mode": 420,
                        "chunks": [{"hash": h, "len": 13}]}]},
        13: {"device": "laptop", "cursor": "", "ops": [
            {"op": "put", "file": {"path": "/docs/b.txt", "kind": "file",
                                   "chunks": [{"hash": h, "len": 13}]}},
            {"op": "mkdir", "path": "/empty"},
            {"op": "move", "from": "/a", "to": "/b", "base_version": 2},
            {"op": "delete", "path": "/old.txt", "base_version": 2}]},
        15: {"entries": [{"path": "/a", "kind": "folder", "node_id": 3, "version": 0,
                          "mode": 493, "size": 0, "modified": 1800000000}]},
        24: {"path": "/docs", "user": "bob", "role": "editor"},
        27: {"path": "/docs", "expires_in": 3600},
        30: {"error": {"code": "not_found", "message": "no such file"}},
    }
    for kind, body in messages.items():
        yield "protocol_json", f"m{kind}", bytes([kind]) + json.dumps(body).encode()
    yield "protocol_json", "deep", bytes([13]) + b"[" * 40 + b"]" * 40
    for i, (kind, size, path, link) in enumerate([
            (0, 13, "docs/a.txt", ""), (1, 0, "docs/" + "d" * 120 + "/e", ""),
            (2, 0, "docs/link", "../a.txt"), (2, 0, "l", "t" * 150),
            (0, 1 << 34, "big/" + "x" * 99, "")]):
        yield "tar", f"m{i}", (bytes([kind]) + struct.pack(">Q", size) + b"\x01\xa4\x65\x00"
                               + path.encode() + b"\n" + link.encode())
    yield "ignore", "gitignore", (b"# build output\nbuild/\n*.o\n!keep.o\n/top-only\n"
                                  b"docs/**/draft-*.md\n\\#hash\n\\!bang\ntrailing\\ \n"
                                  b"[a-c]?.log\n**/cache\nsrc/**\n")
    yield "ignore", "globs", b"*a*a*a*a*a*a*a*b\n**/**/**/x\na/**/b/**/c\n[!x]\n[]]\n["
    requests = [
        ("GET /v1/list?path=/docs&recursive=1", "alice", ""),
        ("GET /v1/list?path=/&at=1800000000000", "alice", ""),
        ("GET /v1/changes?cursor={cursor}&limit=5", "alice", ""),
        ("GET /v1/changes?cursor=zz", "alice", ""),
        ("GET /l/{link}", "none", ""),
        ("GET /l/{link}x", "none", ""),
        ("GET /v1/log?path=/docs&limit=3", "alice", ""),
        ("GET /v1/history?path=/docs/sub", "alice", ""),
        ("POST /v1/commit", "alice", json.dumps(messages[13])),
        ("POST /v1/commit", "bob", json.dumps(
            {"device": "x", "ops": [{"op": "mkdir", "path": "/Shared/docs/new"},
                                    {"op": "delete", "path": "/Shared/docs/sub"}]})),
        ("POST /v1/chunks/check", "alice", json.dumps(messages[2])),
        ("POST /v1/chunks/locate", "bob", json.dumps(messages[2])),
        ("POST /v1/uploads", "alice", json.dumps(messages[11])),
        ("POST /v1/shares", "bob", json.dumps({"path": "/Shared/docs", "user": "alice",
                                               "role": "editor"})),
        ("POST /v1/links", "bob", json.dumps({"path": "/Shared/docs"})),
        ("DELETE /v1/links?id=1", "bob", ""),
        ("GET /v1/trash", "alice", ""),
        ("POST /v1/trash/empty", "bob", ""),
        ("PUT /v1/chunks/" + h + "?u=1&n=13&e=1&s=00", "none", a.decode()),
        ("GET /v1/chunks/" + h, "alice", ""),
        ("POST /v1/packs", "alice", json.dumps({"pack": h, "size": 99})),
        ("GET /v1/whoami", "Bearer nope", ""),
        ("GET /v1/quota", "none", ""),
        ("POST /v1/manifests", "alice", json.dumps(messages[9])),
        # The web page: names with markup in them must come back escaped.
        ("POST /v1/commit", "alice", json.dumps(
            {"device": "x", "ops": [{"op": "mkdir", "path": "/docs/<cairn-fuzz a='1'>"}]})),
        ("GET /web/files/docs/", "alice-web", ""),
        ("GET /web/files/docs/%3Ccairn-fuzz%3E/?q=%3Ccairn-fuzz", "alice-web", ""),
        ("GET /web/files/Shared/docs/", "bob-web", ""),
        ("GET /web/download/docs/?format=zip", "alice-web", ""),
        ("GET /web/view/docs/a.txt", "alice-web", ""),
        ("GET /web/trash", "alice-web", ""),
        ("GET /web/links", "alice-web", ""),
        ("GET /web/static/<cairn-fuzz>", "none", ""),
        ("GET /web/signin?code=<cairn-fuzz>", "none", ""),
        ("POST /web/signin", "none", "token=<cairn-fuzz>"),
        ("POST /web/links", "alice-web", "csrf={csrf}&path=/docs&expires=3600"),
        ("POST /web/links/revoke", "bob-web", "csrf={csrf}&id=1"),
        ("POST /web/delete", "bob-web", "csrf={csrf}&path=/Shared/docs/sub"),
        ("POST /web/restore", "alice-web", "csrf={csrf}&path=/docs&node_id=1&version=1"),
        ("POST /web/undelete", "alice-web", "csrf=x&node_id=1"),
        ("POST /web/upload/check", "alice-web", json.dumps(messages[2])),
        ("POST /web/upload/commit", "bob-web", json.dumps(
            {"device": "web", "ops": [{"op": "put", "path": "/Shared/docs/n", "manifest": h}]})),
        ("POST /web/signout", "alice-web", "csrf={csrf}"),
        # A link's visitor in a browser: landing pages, a missing link as a page.
        ("GET /l/{link}", "browser", ""),
        ("GET /l/{link}/sub", "browser", ""),
        ("GET /l/{link}?download=1&format=zip", "browser", ""),
        ("HEAD /l/{link}x", "browser", ""),
    ]
    for i, (line, who, body) in enumerate(requests):
        yield "router", f"r{i}", f"{line}\n{who}\n{body}".encode()


def main():
    for target, name, data in seeds():
        folder = os.path.join(ROOT, target)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"seed-{name}"), "wb") as f:
            f.write(data)
    print(f"seeds written under {ROOT}")


if __name__ == "__main__":
    main()
