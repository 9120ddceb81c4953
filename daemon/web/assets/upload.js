// Uploads from a folder's page: files dropped on it, or chosen with its button, go up the way
// cairn sends them. Each file is cut into chunks exactly where cairn would cut it (FastCDC with
// the server's parameters and the gear table of common/chunker.cpp), each chunk is hashed with
// SHA-256, the server says which chunks it lacks, only those are sent, and the file is
// committed from its chunk list. So dedup and quota apply as for any other upload, and a file
// dropped again after an interruption sends only what did not arrive.
"use strict";

(() => {
  const panel = document.getElementById("upload");
  if (!panel) return;
  const folder = panel.dataset.path;
  const csrf = panel.dataset.csrf;
  const batch = Number(panel.dataset.batch);
  const params = {
    min: Number(panel.dataset.min),
    avg: Number(panel.dataset.avg),
    max: Number(panel.dataset.max),
  };
  const list = document.getElementById("uploads");
  const input = document.getElementById("upload-files");

  // The gear table: SplitMix64 from the seed in common/chunker.cpp, each value kept as its high
  // and low 32 bits, so that the rolling hash below needs no BigInt arithmetic per byte.
  const gearHi = new Uint32Array(256);
  const gearLo = new Uint32Array(256);
  {
    const m64 = (1n << 64n) - 1n;
    let state = 0x636169726e2d6364n;
    for (let i = 0; i < 256; i++) {
      state = (state + 0x9e3779b97f4a7c15n) & m64;
      let z = state;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & m64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & m64;
      z ^= z >> 31n;
      gearHi[i] = Number(z >> 32n);
      gearLo[i] = Number(z & 0xffffffffn);
    }
  }

  // The `bits` most significant bits of a 64-bit hash, as a mask of its high half: the masks
  // chunking uses never reach the low half (avg_size is at most 2^25, so at most 27 bits).
  const highMask = (bits) => (bits >= 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0);
  const avgBits = Math.round(Math.log2(params.avg));
  const maskSmall = highMask(avgBits + 2);
  const maskLarge = highMask(avgBits - 2);

  // The length of the chunk that starts at buf[start], given `n` bytes from there (the rest of
  // the file, or at least params.max bytes of it): find_chunk_boundary in common/chunker.cpp.
  function boundary(buf, start, n) {
    if (n <= params.min) return n;
    if (n > params.max) n = params.max;
    const normal = Math.min(n, params.avg);
    let hi = 0;
    let lo = 0;
    for (let i = params.min; i < n; i++) {
      const b = buf[start + i];
      // hash = (hash << 1) + gear[b], modulo 2^64.
      hi = ((hi << 1) | (lo >>> 31)) >>> 0;
      const sum = ((lo << 1) >>> 0) + gearLo[b];
      lo = sum >>> 0;
      hi = (hi + gearHi[b] + (sum > 0xffffffff ? 1 : 0)) >>> 0;
      if ((hi & (i < normal ? maskSmall : maskLarge)) === 0) return i + 1;
    }
    return n;
  }

  // The file's chunks in order, reading it a window of 2 x max_size at a time: memory stays
  // within a few times max_size whatever the file's size.
  async function* chunksOf(file) {
    let buf = new Uint8Array(0);
    let begin = 0;
    let read = 0;
    let offset = 0;
    for (;;) {
      if (buf.length - begin < params.max && read < file.size) {
        const end = Math.min(file.size, read + 2 * params.max);
        const more = new Uint8Array(await file.slice(read, end).arrayBuffer());
        read = end;
        const next = new Uint8Array(buf.length - begin + more.length);
        next.set(buf.subarray(begin));
        next.set(more, buf.length - begin);
        buf = next;
        begin = 0;
      }
      if (begin === buf.length) return;
      const len = boundary(buf, begin, buf.length - begin);
      yield { offset, data: buf.subarray(begin, begin + len) };
      offset += len;
      begin += len;
    }
  }

  const hex = (bytes) =>
    Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

  // One request to the upload routes, retried (three times, backing off) when the network or
  // the server failed; an answer that refuses is an Error carrying the server's message.
  async function call(method, url, body) {
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await fetch(url, {
          method,
          body,
          credentials: "same-origin",
          headers: { "X-Cairn-CSRF": csrf },
        });
      } catch (e) {
        if (attempt < 3) {
          await sleep(500 * 2 ** attempt);
          continue;
        }
        throw new Error("the server cannot be reached");
      }
      if (res.status >= 500 && res.status !== 507 && attempt < 3) {
        await sleep(500 * 2 ** attempt);
        continue;
      }
      let answer = {};
      try {
        answer = await res.json();
      } catch (e) {
        answer = {};
      }
      if (!res.ok) {
        throw new Error((answer.error && answer.error.message) || "the server answered " + res.status);
      }
      return answer;
    }
  }

  // A line of the upload list: the file's name, a progress bar and what is happening.
  function line(name) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    const state = document.createElement("span");
    state.className = "state";
    item.append(label, bar, state);
    list.append(item);
    return {
      item,
      show(text, done) {
        state.textContent = text;
        if (done !== undefined) bar.value = done;
      },
    };
  }

  const randomId = () => hex(crypto.getRandomValues(new Uint8Array(16)));

  async function upload(file, ui) {
    const path = (folder === "/" ? "" : folder) + "/" + file.name;
    const chunks = [];
    for await (const c of chunksOf(file)) {
      const digest = await crypto.subtle.digest("SHA-256", c.data);
      chunks.push({ hash: hex(digest), len: c.data.length, offset: c.offset });
      ui.show("hashing", file.size ? (c.offset + c.data.length) / file.size / 2 : 0);
    }
    // A file of the same name here gets a new version (from the version this page showed), not
    // a conflicted copy; the quota check counts only what the new version adds.
    const row = Array.from(document.querySelectorAll("tr[data-name]")).find(
      (r) => r.dataset.name === file.name,
    );
    const commitBytes = Math.max(0, file.size - (row ? Number(row.dataset.size) : 0));
    const missing = new Set();
    for (let i = 0; i === 0 || i < chunks.length; i += batch) {
      const part = chunks.slice(i, i + batch).map(({ hash, len }) => ({ hash, len }));
      const check = { chunks: part };
      if (i === 0) check.commit_bytes = commitBytes;
      const answer = await call("POST", "/web/upload/check", JSON.stringify(check));
      for (const m of answer.missing) missing.add(m.hash);
    }
    const todo = chunks.filter((c) => missing.delete(c.hash));
    const total = todo.reduce((n, c) => n + c.len, 0);
    let sent = 0;
    let next = 0;
    const sender = async () => {
      while (next < todo.length) {
        const c = todo[next++];
        await call("PUT", "/web/upload/chunks/" + c.hash, file.slice(c.offset, c.offset + c.len));
        sent += c.len;
        ui.show("sending", 0.5 + (total ? sent / total / 2 : 0.5));
      }
    };
    await Promise.all([sender(), sender(), sender()]);
    ui.show("saving");
    // mtime_ns goes in as text: milliseconds times a million exceed what a JS number holds.
    const mtimeNs = (BigInt(Math.trunc(file.lastModified)) * 1000000n).toString();
    const base = row ? ',"node_id":' + Number(row.dataset.node) + ',"base_version":' +
                       Number(row.dataset.version) : "";
    const spec = '{"path":' + JSON.stringify(path) + ',"kind":"file","mode":420,"mtime_ns":' +
                 mtimeNs + ',"chunks":' +
                 JSON.stringify(chunks.map(({ hash, len }) => ({ hash, len }))) + base + "}";
    const body = '{"device":"web","request_id":"' + randomId() + '","ops":[{"op":"put","file":' +
                 spec + "}]}";
    const result = (await call("POST", "/web/upload/commit", body)).results[0];
    const saved = todo.length ? "" : " (nothing to send: the server had every chunk)";
    if (result.status === "ok") return "uploaded, version " + result.version + saved;
    if (result.status === "unchanged") return "already here, unchanged";
    if (result.status === "copied") return "changed meanwhile elsewhere: kept as " + result.copy;
    throw new Error(result.error ? result.error.message : result.message || result.status);
  }

  let busy = false;
  const queue = [];
  async function drain() {
    if (busy) return;
    busy = true;
    let failed = false;
    while (queue.length) {
      const { file, ui } = queue.shift();
      try {
        ui.show(await upload(file, ui), 1);
        ui.item.className = "done";
      } catch (e) {
        failed = true;
        ui.show("not uploaded: " + e.message);
        ui.item.className = "failed";
      }
    }
    busy = false;
    // The listing shows what arrived; a failure stays on screen to be read.
    if (!failed) window.location.reload();
  }

  function add(files) {
    for (const file of files) queue.push({ file, ui: line(file.name) });
    drain();
  }

  if (!window.isSecureContext || !crypto.subtle) {
    panel.replaceChildren();
    const note = document.createElement("p");
    note.className = "note";
    note.textContent =
      "Uploading from the browser needs this page over HTTPS (or from localhost): browsers " +
      "hash files only on secure pages. cairn put works from any terminal.";
    panel.append(note);
    return;
  }

  input.addEventListener("change", () => {
    add(Array.from(input.files));
    input.value = "";
  });
  document.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !event.dataTransfer.types.includes("Files")) return;
    event.preventDefault();
    document.body.classList.add("dropping");
  });
  document.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) document.body.classList.remove("dropping");
  });
  document.addEventListener("drop", (event) => {
    document.body.classList.remove("dropping");
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    // Folders are not uploaded from here (cairn push sends a tree); a dropped folder is an
    // entry the browser cannot read as a file, and its line says so.
    const items = Array.from(event.dataTransfer.items || []);
    const files = Array.from(event.dataTransfer.files).filter((f, i) => {
      const entry = items[i] && items[i].webkitGetAsEntry ? items[i].webkitGetAsEntry() : null;
      if (entry && entry.isDirectory) {
        line(f.name + "/").show("folders are not uploaded from the page: use cairn push");
        return false;
      }
      return true;
    });
    add(files);
  });
})();
