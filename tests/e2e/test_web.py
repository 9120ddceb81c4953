"""End-to-end: the web page in a real headless browser (Debian's Chromium through ChromeDriver,
tests/e2e/browser.py), against the real cairnd, with files pushed by the real cairn.

Screenshots of the main pages, at a desktop's and a phone's width, are kept in
$CAIRN_ARTIFACTS_DIR/web (default: the system's temp folder, cairn-artifacts/web)."""

import http.client
import io
import json
import os
import shutil
import struct
import tarfile
import tempfile
import time
import unittest
import urllib.parse
import zipfile
import zlib

from browser import Browser, available
from harness import CAIRND, CairnTestCase, read, run, sha256, write, write_random
from harness import http as api_call

ARTIFACTS = os.path.join(os.environ.get("CAIRN_ARTIFACTS_DIR") or
                         os.path.join(tempfile.gettempdir(), "cairn-artifacts"), "web")

HOSTILE_SCRIPT = "<script>alert(1)<script>.txt"
HOSTILE_IMG = "\"><img src=x onerror=alert(2)>.txt"


def png(width, height, rgb):
    """A small valid PNG of one colour."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def page_request(base, method, path, cookie=None, headers=None, body=None):
    """(status, headers, body) of one request to the page's routes, outside the browser."""
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = "cairn_session=" + cookie
    if body is not None:
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    conn.close()
    return out


@unittest.skipUnless(available() or os.environ.get("CI"),
                     "needs chromium and chromium-driver (scripts/install-deps.sh --browser)")
class WebPageTest(CairnTestCase):

    @classmethod
    def setUpClass(cls):
        # One browser for the class (it takes a second or two to start); each test starts
        # without cookies.
        cls.downloads = tempfile.mkdtemp(prefix="cairn-downloads-")
        cls.browser = Browser(downloads=cls.downloads)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        shutil.rmtree(cls.downloads, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.base = self.daemon.url.rstrip("/")
        self.work = self.path("w")
        write(os.path.join(self.work, "docs", "notes.txt"), "first draft\n")
        write(os.path.join(self.work, "docs", "deep", "inner.md"), "# inner\n")
        with open(os.path.join(self.work, "docs", "photo.png"), "wb") as f:
            f.write(png(24, 16, (200, 40, 40)))
        write_random(os.path.join(self.work, "data.bin"), 700_000, seed=3)
        write(os.path.join(self.work, HOSTILE_SCRIPT), "<script>alert('content')</script>\n")
        write(os.path.join(self.work, HOSTILE_IMG), "harmless\n")
        self.cairn("init", self.work, "--remote", self.daemon.url + "/", check=True)
        self.cairn("-C", self.work, "push", check=True)
        write(os.path.join(self.work, "docs", "notes.txt"), "second draft\n")
        self.cairn("-C", self.work, "push", check=True)
        self.browser.reset()

    def shot(self, name, browser=None):
        (browser or self.browser).screenshot(os.path.join(ARTIFACTS, name + ".png"))

    def alice(self, *args):
        """What `cairn ARGS` prints, run as alice against the server."""
        return self.cairn(*args, env=dict(self.env, CAIRN_SERVER=self.base), check=True).stdout

    def sign_in(self, token=None, browser=None):
        b = browser or self.browser
        b.get(self.base + "/")
        b.wait_for_url("/web/signin")
        b.find("#token").type(token or self.token)
        b.find("#signin").click()
        b.wait_for_url("/web/files/")

    def session_cookie(self):
        for c in self.browser.cookies():
            if c["name"] == "cairn_session":
                return c
        self.fail("no session cookie")

    def request(self, method, path, cookie=None, headers=None, body=None):
        return page_request(self.base, method, path, cookie, headers, body)

    def test_sign_in_browse_download_and_restore(self):
        b = self.browser
        self.sign_in()
        cookie = self.session_cookie()
        self.assertTrue(cookie["httpOnly"])
        self.assertEqual(cookie["sameSite"], "Strict")
        self.assertIn("docs/", [a.text for a in b.find_all("td.name a.folder")])
        self.shot("files")

        # Into a folder, and back by the breadcrumb.
        b.find('a.folder[href="/web/files/docs/"]').click()
        b.wait_for_url("/web/files/docs/")
        names = [a.text for a in b.find_all("td.name a")]
        self.assertEqual(names[0], "deep/")  # Folders first.
        self.assertIn("notes.txt", names)
        # Who changed it last, from which device.
        self.assertEqual(b.find_all("td.by")[names.index("notes.txt")].text, "alice on e2e")
        self.shot("folder")
        b.find('.crumbs a[href="/web/files/"]').click()
        b.wait(lambda: b.url.endswith("/web/files/"), "the root again")

        # Sorting by size, largest first; searching by name below a folder.
        b.get(self.base + "/web/files/?sort=size&order=desc")
        files = [a.text for a in b.find_all("td.name a.file")]
        self.assertEqual(files[0], "data.bin")
        b.get(self.base + "/web/files/")
        b.find("input[name=q]").type("NOTES")
        b.find("form.search button").click()
        b.wait_for_url("q=NOTES")
        self.assertEqual([a.text for a in b.find_all("td.name a")], ["/docs/notes.txt"])

        # A text file shows inline; its history restores an old version, which becomes current.
        b.find("td.name a").click()
        b.wait_for_url("/web/files/docs/notes.txt")
        self.assertEqual(b.find("pre.preview").text, "second draft")
        self.assertEqual(len(b.find_all("tr[data-version]")), 2)
        b.find('tr[data-version="1"] button').click()
        b.wait(lambda: len(b.find_all("tr[data-version]")) == 3, "a third version")
        self.assertEqual(b.find("pre.preview").text, "first draft")
        self.assertIn("current", b.find('tr[data-version="3"]').text)
        self.shot("file")
        self.assertEqual(self.alice("cat", "/docs/notes.txt"), "first draft\n")

        # A download through the browser, byte for byte.
        b.get(self.base + "/web/files/data.bin")
        b.find("#download").click()
        got = b.wait_for_download("data.bin", 700_000)
        self.assertEqual(sha256(open(got, "rb").read()),
                         sha256(open(os.path.join(self.work, "data.bin"), "rb").read()))

        # An image shows inline.
        b.get(self.base + "/web/files/docs/photo.png")
        loaded = b.wait(lambda: b.execute(
            "const i = document.querySelector('img.preview');"
            "return i && i.complete && i.naturalWidth;"), "the image")
        self.assertEqual(loaded, 24)

    def test_downloads_resume_and_answer_head(self):
        self.sign_in()
        secret = self.session_cookie()["value"]
        data = open(os.path.join(self.work, "data.bin"), "rb").read()
        status, headers, body = self.request("GET", "/web/download/data.bin", secret,
                                             {"Range": "bytes=1000-1999"})
        self.assertEqual(status, 206)
        self.assertEqual(body, data[1000:2000])
        self.assertEqual(headers["content-range"], f"bytes 1000-1999/{len(data)}")
        status, headers, body = self.request("GET", "/web/download/data.bin", secret,
                                             {"Range": "bytes=650000-"})
        self.assertEqual((status, body), (206, data[650000:]))
        status, headers, _ = self.request("GET", "/web/download/data.bin", secret,
                                          {"Range": "bytes=700000-"})
        self.assertEqual(status, 416)
        status, headers, body = self.request("HEAD", "/web/download/data.bin", secret)
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["content-length"], str(len(data)))
        self.assertEqual(headers["accept-ranges"], "bytes")
        self.assertIn("attachment", headers["content-disposition"])
        # curl -C - resumes a cut download.
        part = self.path("part.bin")
        with open(part, "wb") as f:
            f.write(data[:123_456])
        run(["curl", "-sf", "-C", "-", "-H", "Cookie: cairn_session=" + secret, "-o", part,
             self.base + "/web/download/data.bin"], check=True)
        self.assertEqual(open(part, "rb").read(), data)
        # An old version, and a folder as tar.
        status, _, body = self.request("GET", "/web/download/docs/notes.txt?version=1", secret)
        self.assertEqual((status, body), (200, b"first draft\n"))
        status, headers, body = self.request("GET", "/web/download/docs/", secret)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/x-tar")
        self.assertIn(b"docs/deep/inner.md", body)
        # Nothing without the session.
        status, headers, _ = self.request("GET", "/web/download/data.bin")
        self.assertEqual((status, headers["location"]),
                         (303, "/web/signin?next=%2Fweb%2Fdownload%2Fdata.bin"))

    def test_hostile_names_and_content_render_as_text(self):
        b = self.browser
        self.sign_in()
        names = [a.text for a in b.find_all("td.name a.file")]
        self.assertIn(HOSTILE_SCRIPT, names)
        self.assertIn(HOSTILE_IMG, names)
        # The page's own scripts alone: app.js and (a folder that takes uploads) upload.js.
        self.assertEqual(b.execute("return Array.from(document.scripts, s => s.src)"),
                         [self.base + "/web/static/app.js", self.base + "/web/static/upload.js"])
        self.assertEqual(b.execute("return document.images.length"), 0)
        self.assertIsNone(b.alert_text())
        self.shot("hostile-names")
        for a in b.find_all("td.name a.file"):
            if a.text == HOSTILE_SCRIPT:
                a.click()
                break
        b.wait_for_url("/web/files/%3Cscript%3E")
        self.assertEqual(b.find("h1.filename").text, HOSTILE_SCRIPT)
        self.assertEqual(b.find("pre.preview").text, "<script>alert('content')</script>")
        self.assertEqual(b.execute("return document.scripts.length"), 1)
        self.assertIsNone(b.alert_text())
        # Opened on its own, the file is plain text in a sandbox, never markup of this origin.
        secret = self.session_cookie()["value"]
        status, headers, body = self.request(
            "GET", "/web/view/" + urllib.parse.quote(HOSTILE_SCRIPT), secret)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertTrue(headers["content-security-policy"].startswith("sandbox"))
        b.get(self.base + "/web/view/" + urllib.parse.quote(HOSTILE_SCRIPT))
        self.assertIsNone(b.alert_text())

    def test_pages_carry_security_headers_and_forms_need_the_session(self):
        self.sign_in()
        secret = self.session_cookie()["value"]
        for path in ("/web/files/", "/web/files/docs/notes.txt", "/web/trash", "/web/signin"):
            status, headers, _ = self.request("GET", path, secret)
            self.assertEqual(status, 200, path)
            csp = headers["content-security-policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertNotIn("unsafe", csp)
            self.assertEqual(headers["x-frame-options"], "DENY")
            self.assertEqual(headers["x-content-type-options"], "nosniff")
        page = self.request("GET", "/web/files/docs/notes.txt", secret)[2].decode()
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        form = "path=%2Fdocs%2Fnotes.txt&version=1&csrf="
        # No CSRF token, another session's, another origin: refused, nothing changed.
        self.assertEqual(self.request("POST", "/web/restore", secret, body=form)[0], 403)
        self.assertEqual(self.request("POST", "/web/restore", secret, body=form + "0" * 64)[0],
                         403)
        self.assertEqual(self.request("POST", "/web/restore", secret,
                                      {"Origin": "http://evil.example"}, form + csrf)[0], 403)
        # A form from a page whose session ended gets a page that says so.
        status, headers, body = self.request("POST", "/web/restore", None, body=form + csrf)
        self.assertEqual((status, headers["content-type"]), (401, "text/html; charset=utf-8"))
        self.assertIn(b"session has ended", body)
        self.assertEqual(self.alice("cat", "/docs/notes.txt"),
                         "second draft\n")
        # The page's own form works.
        status, headers, _ = self.request("POST", "/web/restore", secret,
                                          {"Origin": self.base}, form + csrf)
        self.assertEqual((status, headers["location"]), (303, "/web/files/docs/notes.txt"))
        self.assertEqual(self.alice("cat", "/docs/notes.txt"), "first draft\n")

        # Signing out ends the session on the server: the old cookie opens nothing.
        b = self.browser
        b.get(self.base + "/web/files/")
        b.find("form.signout button").click()
        b.wait_for_url("/web/signin")
        status, headers, _ = self.request("GET", "/web/files/", secret)
        self.assertEqual((status, headers["location"]), (303, "/web/signin?next=%2Fweb%2Ffiles%2F"))
        # A wrong token is told so, and no cookie is set.
        b.find("#token").type("cairn_" + "0" * 64)
        b.find("#signin").click()
        self.assertIn("not valid", b.find("p.error").text)
        self.assertEqual([c for c in b.cookies() if c["name"] == "cairn_session"], [])

    def manifest(self, path):
        """The manifest hash of the file at `path`, as alice's API sees it."""
        status, body = api_call("GET", self.base + "/v1/list?path=" + urllib.parse.quote(path),
                            token=self.token)
        self.assertEqual(status, 200, body)
        return json.loads(body)["entries"][0]["manifest"]

    def upload(self, *paths):
        """Chooses files with the folder page's upload button; waits for the page to reload
        with every one of them listed."""
        b = self.browser
        b.find("#upload-files").type("\n".join(paths))
        names = [os.path.basename(p) for p in paths]
        b.wait(lambda: all(b.find_all('tr[data-name="%s"]' % n) for n in names) and
               not b.find_all("ul.uploads li"), "the uploaded files listed", timeout=60)

    def test_uploads_cut_chunks_as_cairn_does_and_send_only_what_is_missing(self):
        b = self.browser
        self.sign_in()
        b.get(self.base + "/web/files/docs/")
        self.assertTrue(b.find_all("#upload"))
        up = self.path("up")
        # The bytes of a file cairn pushed already: no chunk travels, and the page cut it where
        # cairn did (the same manifest).
        copy = os.path.join(up, "copy.bin")
        os.makedirs(up)
        shutil.copy(os.path.join(self.work, "data.bin"), copy)
        stored = self.daemon.stored_chunk_files()
        self.upload(copy)
        self.assertEqual(self.manifest("/docs/copy.bin"), self.manifest("/data.bin"))
        self.assertEqual(self.daemon.stored_chunk_files(), stored)

        # Several files at once: random bytes over several windows of the page's reader, a
        # pattern that cuts at the largest chunk size, and a new version of an existing file.
        big = os.path.join(up, "big.bin")
        write_random(big, 9_500_000, seed=21)
        pattern = os.path.join(up, "pattern.bin")
        with open(pattern, "wb") as f:
            f.write(bytes(range(251)) * 40_000)
        notes = os.path.join(up, "notes.txt")
        write(notes, "third draft, from the page\n")
        self.upload(big, pattern, notes)
        self.shot("uploaded")
        after_page = self.daemon.stored_chunk_files()
        self.assertGreater(after_page, stored)
        self.assertEqual(self.alice("cat", "/docs/notes.txt"), "third draft, from the page\n")
        history = self.cairn_json("history", "/docs/notes.txt",
                                  env=dict(self.env, CAIRN_SERVER=self.base))
        self.assertEqual(len(history["versions"]), 3, history)
        self.assertNotIn("conflicted", self.alice("ls", "/docs"))
        row = b.find('tr[data-name="notes.txt"]')
        self.assertEqual(row.find_all("td.by")[0].text, "alice on web")

        # cairn put of the same bytes finds every chunk there, under the same manifest.
        self.alice("put", big, "/cli/big.bin")
        self.alice("put", pattern, "/cli/pattern.bin")
        self.assertEqual(self.daemon.stored_chunk_files(), after_page)
        self.assertEqual(self.manifest("/cli/big.bin"), self.manifest("/docs/big.bin"))
        self.assertEqual(self.manifest("/cli/pattern.bin"), self.manifest("/docs/pattern.bin"))
        got = self.path("big.out")
        self.alice("get", "/docs/big.bin", got)
        self.assertEqual(sha256(open(got, "rb").read()), sha256(open(big, "rb").read()))

        # A file dropped on the page (a drop event carrying it, as a desktop's drag sends).
        b.execute("""
            const dt = new DataTransfer();
            dt.items.add(new File(["dropped on the page\\n"], "dropped.txt"));
            document.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true,
                                                              cancelable: true}));
            document.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true,
                                                          cancelable: true}));""")
        b.wait(lambda: b.find_all('tr[data-name="dropped.txt"]'), "the dropped file listed",
               timeout=30)
        self.assertEqual(self.alice("cat", "/docs/dropped.txt"), "dropped on the page\n")

    def test_trash_and_undelete(self):
        b = self.browser
        self.sign_in()
        b.get(self.base + "/web/files/docs/photo.png")
        b.find("form[action='/web/delete'] button").click()
        b.wait(lambda: b.alert_text() is not None, "the confirmation")
        b.accept_alert()
        b.wait_for_url("/web/files/docs/")
        self.assertNotIn("photo.png", [a.text for a in b.find_all("td.name a")])
        b.find("header nav a[href='/web/trash']").click()
        b.wait_for_url("/web/trash")
        self.assertEqual(b.find("td.name").text, "photo.png")
        self.shot("trash")
        b.find("form[action='/web/undelete'] button").click()
        b.wait(lambda: b.find_all("p.empty"), "an empty trash")
        self.assertIn("photo.png", self.alice("ls", "/docs"))

    def test_a_viewer_sees_no_write_controls(self):
        bob = self.daemon.add_user("bob")
        self.cairn("share", "/docs", "bob", "--role", "viewer",
                   env=dict(self.env, CAIRN_SERVER=self.daemon.url), check=True)
        b = self.browser
        self.sign_in(bob)
        b.get(self.base + "/web/files/Shared/docs/notes.txt")
        self.assertEqual(b.find("pre.preview").text, "second draft")
        self.assertTrue(b.find_all("#download"))
        self.assertEqual(b.find_all("form[action='/web/restore']"), [])
        self.assertEqual(b.find_all("form[action='/web/delete']"), [])
        self.shot("viewer-file")
        b.get(self.base + "/web/files/Shared/docs/")
        self.assertTrue(b.find_all("td.name a"))
        self.assertEqual(b.find_all("#upload"), [])
        # A forged restore gets the API's refusal, and changes nothing.
        secret = self.session_cookie()["value"]
        page = self.request("GET", "/web/files/", secret)[2].decode()
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        status, _, body = self.request(
            "POST", "/web/restore", secret, {"Origin": self.base},
            "path=%2FShared%2Fdocs%2Fnotes.txt&version=1&csrf=" + csrf)
        self.assertEqual(status, 403, body)
        self.assertEqual(self.alice("cat", "/docs/notes.txt"),
                         "second draft\n")
        # So does a forged upload into the shared folder.
        commit = {"device": "web", "ops": [{"op": "put", "file": {
            "path": "/Shared/docs/notes.txt", "kind": "file", "chunks": []}}]}
        status, _, body = self.request("POST", "/web/upload/commit", secret,
                                       {"Origin": self.base, "X-Cairn-CSRF": csrf},
                                       json.dumps(commit))
        result = json.loads(body)["results"][0] if status == 200 else {"error_code": status}
        self.assertIn(result.get("error_code"), (403, "permission_denied"), body)
        self.assertEqual(self.alice("cat", "/docs/notes.txt"), "second draft\n")
        # As an editor, the same page offers them.
        self.cairn("share", "/docs", "bob", "--role", "editor",
                   env=dict(self.env, CAIRN_SERVER=self.daemon.url), check=True)
        b.get(self.base + "/web/files/Shared/docs/notes.txt")
        self.assertTrue(b.find_all("form[action='/web/restore']"))
        b.get(self.base + "/web/files/Shared/docs/")
        self.assertTrue(b.find_all("#upload"))

    def test_every_page_fits_a_phone(self):
        b = self.browser
        b.phone()
        b.get(self.base + "/web/signin")
        self.shot("phone-signin")
        self.sign_in()
        for name, path in (("phone-files", "/web/files/"), ("phone-folder", "/web/files/docs/"),
                           ("phone-file", "/web/files/docs/notes.txt"),
                           ("phone-trash", "/web/trash")):
            b.get(self.base + path)
            b.find("main")
            # Content wider than the phone makes it scroll sideways, or zoom the page out.
            width, scroll, wide = b.execute(
                "return [window.innerWidth, document.documentElement.scrollWidth,"
                " Array.from(document.querySelectorAll('main *'))"
                "  .filter(e => e.getBoundingClientRect().right > 391).slice(0, 4)"
                "  .map(e => e.tagName + '.' + e.className)]")
            self.assertEqual((width, scroll), (390, 390), f"{path} is too wide: {wide}")
            self.shot(name)

    def test_links_land_download_and_stop_when_revoked(self):
        b = self.browser
        self.sign_in()
        # Made on a folder's page; its URL is shown once, whole.
        b.get(self.base + "/web/files/docs/")
        b.find("form.link-form button").click()
        b.wait_for_url("/web/links")
        url = b.find("#new-link").attribute("value")
        self.assertTrue(url.startswith(self.base + "/l/"), url)
        # Its Copy button puts it on the clipboard.
        b.cdp("Browser.grantPermissions", origin=self.base,
              permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])
        b.find("button.copy").click()
        b.wait(lambda: b.find("button.copy").text == "Copied", "the copy")
        self.assertEqual(b.execute_async(
            "navigator.clipboard.readText().then(arguments[0], e => arguments[0](String(e)))"),
            url)
        self.shot("links")
        # Someone without an account opens it in a browser: a landing page, files one by one.
        with Browser(downloads=self.path("theirs")) as other:
            other.get(url)
            self.assertEqual(other.find("h1.filename").text, "docs/")
            self.assertIn("available until", other.find("p.facts").text)  # 7 days, the default.
            names = [a.text for a in other.find_all("td.name a")]
            self.assertIn("notes.txt", names)
            self.assertIn("deep/inner.md", names)
            self.shot("link-landing", other)
            for a in other.find_all("td.name a"):
                if a.text == "notes.txt":
                    a.click()
            got = other.wait_for_download("notes.txt", len("second draft\n"))
            self.assertEqual(read(got), "second draft\n")
            # All of it, as a zip (what a person on any desktop or phone opens).
            other.find("#download").click()
            got = other.wait_for_download("docs.zip")
            with zipfile.ZipFile(got) as z:
                self.assertIsNone(z.testzip())
                self.assertEqual(z.read("docs/notes.txt"), b"second draft\n")
        # curl without a browser gets the bytes (a folder as tar); HEAD works.
        token = url.rsplit("/", 1)[1]
        status, headers, body = self.request("GET", "/l/" + token)
        self.assertEqual((status, headers["content-type"]), (200, "application/x-tar"))
        self.assertIn(b"docs/notes.txt", body)
        status, headers, body = self.request("HEAD", "/l/" + token)
        self.assertEqual((status, body, headers["content-length"]), (200, b"", str(len(
            self.request("GET", "/l/" + token)[2]))))
        status, _, body = self.request("GET", "/l/" + token + "/notes.txt",
                                       headers={"Range": "bytes=7-"})
        self.assertEqual((status, body), (206, b"draft\n"))
        # Revoked on the links page, it stops working for everyone.
        b.find("form[action='/web/links/revoke'] button").click()
        b.wait(lambda: b.alert_text() is not None, "the confirmation")
        b.accept_alert()
        b.wait(lambda: b.find_all("p.empty"), "no links left")
        self.assertEqual(self.request("GET", "/l/" + token)[0], 404)
        status, _, body = self.request("GET", "/l/" + token, headers={"Accept": "text/html"})
        self.assertEqual(status, 404)
        self.assertIn(b"revoked", body)

    def test_a_page_asked_for_signed_out_comes_after_the_sign_in(self):
        b = self.browser
        b.get(self.base + "/web/files/docs/deep/?sort=size")
        b.wait_for_url("/web/signin?next=")
        b.find("#token").type(self.token)
        b.find("#signin").click()
        b.wait_for_url("/web/files/docs/deep/?sort=size")
        self.assertIn("inner.md", [a.text for a in b.find_all("td.name a")])
        # cairn web PATH: the one-time link opens on that file.
        made = self.cairn_json("web", "/docs/notes.txt", "--no-open",
                               env=dict(self.env, CAIRN_SERVER=self.base))
        self.assertTrue(made["url"].endswith("&next=%2Fweb%2Ffiles%2Fdocs%2Fnotes.txt"), made)
        with Browser() as other:
            other.get(made["url"])
            other.find("#continue").click()
            other.wait_for_url("/web/files/docs/notes.txt")
            self.assertEqual(other.find("h1").text, "notes.txt")

    def test_cairn_web_signs_in_once(self):
        made = self.cairn_json("web", "--no-open", env=dict(self.env, CAIRN_SERVER=self.base))
        self.assertTrue(made["url"].startswith(self.base + "/web/signin?code="))
        b = self.browser
        b.get(made["url"])
        self.assertIn("alice", b.find("#continue").text)
        b.find("#continue").click()
        b.wait_for_url("/web/files/")
        self.assertTrue(b.find_all("td.name a"))
        # Used once, it signs nobody in again.
        with Browser() as other:
            other.get(made["url"])
            self.assertIn("expired or was used", other.find("p.error").text)


class WebRoutesTest(CairnTestCase):
    """The page's routes over plain HTTP, without a browser, on both configurations: uploads
    (with chunks in S3, the daemon itself writes what the page sends into the bucket) and
    folders downloaded as zip."""

    def setUp(self):
        super().setUp()
        self.base = self.daemon.url.rstrip("/")
        src = self.path("src")
        write_random(os.path.join(src, "data.bin"), 70_000, seed=5)
        self.alice("put", os.path.join(src, "data.bin"), "/data.bin")

    def alice(self, *args):
        return self.cairn(*args, env=dict(self.env, CAIRN_SERVER=self.base), check=True).stdout

    def request(self, method, path, cookie=None, headers=None, body=None):
        return page_request(self.base, method, path, cookie, headers, body)

    def sign_in(self):
        """A session's secret, from the sign-in form as a browser posts it."""
        status, headers, body = self.request("POST", "/web/signin", None, {"Origin": self.base},
                                             "token=" + urllib.parse.quote(self.token))
        self.assertEqual(status, 303, body)
        return headers["set-cookie"].split("cairn_session=")[1].split(";")[0]

    def test_a_sign_in_goes_on_to_the_pages_own_pages_only(self):
        form = "token=" + urllib.parse.quote(self.token) + "&next="
        for asked, went in (("/web/files/data.bin", "/web/files/data.bin"),
                            ("/web/trash?x=1", "/web/trash?x=1"),
                            ("//evil.example/web/", "/web/files/"),
                            ("https://evil.example/", "/web/files/"),
                            ("/web/files/\r\nSet-Cookie:%20x=1", "/web/files/"),
                            ("/web/signout", "/web/files/")):
            status, headers, body = self.request("POST", "/web/signin", None,
                                                 {"Origin": self.base},
                                                 form + urllib.parse.quote(asked, safe=""))
            self.assertEqual((status, headers.get("location")), (303, went), (asked, body))
        # Signed out, a page sends the browser to the sign-in page with it as `next`; an
        # action or the API does not.
        status, headers, _ = self.request("GET", "/web/files/data.bin?sort=size")
        self.assertEqual((status, headers["location"]),
                         (303, "/web/signin?next=%2Fweb%2Ffiles%2Fdata.bin%3Fsort%3Dsize"))
        status, _, page = self.request("GET", headers["location"])
        self.assertIn(b'name="next" value="/web/files/data.bin?sort=size"', page)

    def test_what_others_share_is_searched_and_downloaded_with_the_rest(self):
        src = self.path("shared")
        write(os.path.join(src, "plans", "q3 report.txt"), "plans\n")
        write(os.path.join(src, "one.txt"), "a single shared file\n")
        write(os.path.join(src, "old", "report-draft.txt"), "to be deleted\n")
        self.alice("put", os.path.join(src, "plans"), os.path.join(src, "one.txt"),
                   os.path.join(src, "old"), "/")
        bob_token = self.daemon.add_user("bob")
        for path in ("/plans", "/one.txt", "/old"):
            self.alice("share", path, "bob")
        self.alice("rm", "-r", "/old")  # Shared, then deleted by its owner.
        bob = dict(self.env, CAIRN_SERVER=self.base, CAIRN_TOKEN=bob_token)
        self.cairn("mkdir", "/own", env=bob, check=True)
        status, headers, _ = self.request("POST", "/web/signin", None, {"Origin": self.base},
                                          "token=" + urllib.parse.quote(bob_token))
        secret = headers["set-cookie"].split("cairn_session=")[1].split(";")[0]

        # A search from the top finds what is shared with him; the deleted folder is no error.
        status, _, page = self.request("GET", "/web/files/?q=report", secret)
        self.assertEqual(status, 200, page[:300])
        self.assertIn('href="/web/files/Shared/plans/q3%20report.txt"', page.decode())
        self.assertNotIn("draft", page.decode())
        # His whole tree, as zip and as tar, holds the shared folder's files and the shared file.
        before = int(time.time()) - 5
        status, _, body = self.request("GET", "/web/download/?format=zip", secret)
        self.assertEqual(status, 200, body[:300])
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            self.assertIsNone(z.testzip())
            self.assertEqual(z.read("files/Shared/plans/q3 report.txt"), b"plans\n")
            self.assertEqual(z.read("files/Shared/one.txt"), b"a single shared file\n")
            self.assertIn("files/own/", z.namelist())
            self.assertFalse([n for n in z.namelist() if "old" in n], z.namelist())
            # A folder's date is the download's, not 1970.
            own = z.getinfo("files/own/")
            self.assertGreaterEqual(own.date_time[0], 2024, own.date_time)
        status, _, body = self.request("GET", "/web/download/Shared/", secret)
        self.assertEqual(status, 200, body[:300])
        with tarfile.open(fileobj=io.BytesIO(body)) as t:
            self.assertEqual(t.extractfile("Shared/plans/q3 report.txt").read(), b"plans\n")
            self.assertGreaterEqual(t.getmember("Shared/plans").mtime, before)

    def test_upload_routes_refuse_what_the_page_would_not_send(self):
        secret = self.sign_in()
        page = self.request("GET", "/web/files/", secret)[2].decode()
        csrf = page.split('data-csrf="')[1].split('"')[0]
        body = b"not the chunk it claims to be"
        claim = sha256(b"something else")
        check = json.dumps({"chunks": [{"hash": claim, "len": len(body)}]})
        ok = {"Origin": self.base, "X-Cairn-CSRF": csrf}
        # No session, no CSRF token, another origin: refused before anything is read.
        self.assertEqual(self.request("POST", "/web/upload/check", None, ok, check)[0], 401)
        self.assertEqual(self.request("POST", "/web/upload/check", secret, {"Origin": self.base},
                                      check)[0], 403)
        self.assertEqual(self.request("POST", "/web/upload/check", secret,
                                      dict(ok, Origin="http://evil.example"), check)[0], 403)
        # The session shows in the admin's token list as a web session of the token.
        rows = run([CAIRND, "token", "list", "alice", "--data", self.daemon.data_dir],
                   check=True).stdout.splitlines()
        first_id = rows[1].split()[0]
        self.assertTrue(rows[-1].endswith("web of " + first_id), rows)
        status, _, answer = self.request("POST", "/web/upload/check", secret, ok, check)
        self.assertEqual((status, [m["hash"] for m in json.loads(answer)["missing"]]),
                         (200, [claim]))
        # Bytes that do not hash to their name are refused and nothing is kept.
        stored = self.daemon.stored_chunk_files()
        status, _, answer = self.request("PUT", "/web/upload/chunks/" + claim, secret, ok, body)
        self.assertEqual(status, 422, answer)
        self.assertEqual(self.request("PUT", "/web/upload/chunks/" + claim, None, ok, body)[0],
                         401)
        self.assertEqual(self.daemon.stored_chunk_files(), stored)
        # A commit of chunks the caller does not hold is an error; only single files commit.
        commit = {"device": "web", "ops": [{"op": "put", "file": {
            "path": "/forged.bin", "kind": "file", "chunks": [{"hash": claim, "len": 5}]}}]}
        status, _, answer = self.request("POST", "/web/upload/commit", secret, ok,
                                         json.dumps(commit))
        self.assertEqual(json.loads(answer)["results"][0]["status"], "error", answer)
        commit["ops"] = [{"op": "delete", "path": "/data.bin"}]
        status, _, answer = self.request("POST", "/web/upload/commit", secret, ok,
                                         json.dumps(commit))
        self.assertEqual(status, 400, answer)
        self.assertIn("data.bin", self.alice("ls", "/"))
        self.assertNotIn("forged.bin", self.alice("ls", "/"))
        # The right bytes are kept.
        body = b"the chunk it claims to be"
        status, _, answer = self.request("PUT", "/web/upload/chunks/" + sha256(body), secret, ok,
                                         body)
        self.assertEqual(status, 201, answer)
        self.assertEqual(self.daemon.stored_chunk_files(), stored + 1)
        commit["ops"] = [{"op": "put", "file": {
            "path": "/sent.txt", "kind": "file", "chunks": [{"hash": sha256(body),
                                                             "len": len(body)}]}}]
        status, _, answer = self.request("POST", "/web/upload/commit", secret, ok,
                                         json.dumps(commit))
        self.assertEqual(json.loads(answer)["results"][0]["status"], "ok", answer)
        self.assertEqual(self.alice("cat", "/sent.txt"), body.decode())

    def test_a_folder_downloads_as_a_zip_that_unzip_and_python_read(self):
        src = self.path("tree")
        write(os.path.join(src, "a.txt"), "alpha\n")
        write(os.path.join(src, "sub", "béta — notes.md"), "# b\n")
        write(os.path.join(src, "sub", "empty"), "")
        write_random(os.path.join(src, "sub", "big.bin"), 2_500_000, seed=8)
        os.makedirs(os.path.join(src, "hollow"))
        os.symlink("a.txt", os.path.join(src, "link"))
        self.alice("put", src, "/tree")
        secret = self.sign_in()
        status, headers, body = self.request("GET", "/web/download/tree/?format=zip", secret)
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(headers["content-type"], "application/zip")
        self.assertIn("tree.zip", headers["content-disposition"])
        self.assertEqual(int(headers["content-length"]), len(body))
        archive = self.path("tree.zip")
        with open(archive, "wb") as f:
            f.write(body)
        with zipfile.ZipFile(archive) as z:
            self.assertIsNone(z.testzip())  # Every CRC matches.
            names = sorted(z.namelist())
            self.assertIn("tree/hollow/", names)
            for rel in ("a.txt", "sub/béta — notes.md", "sub/empty", "sub/big.bin"):
                self.assertEqual(z.read("tree/" + rel),
                                 open(os.path.join(src, rel), "rb").read(), rel)
            link = z.getinfo("tree/link")
            self.assertEqual(link.external_attr >> 28, 0o12)  # S_IFLNK's top bits.
            self.assertEqual(z.read(link), b"a.txt")
        # Info-ZIP's unzip agrees, symlink included.
        out = self.path("unzipped")
        run(["unzip", "-q", archive, "-d", out], check=True)
        self.assertEqual(os.readlink(os.path.join(out, "tree", "link")), "a.txt")
        self.assertEqual(sha256(open(os.path.join(out, "tree", "sub", "big.bin"), "rb").read()),
                         sha256(open(os.path.join(src, "sub", "big.bin"), "rb").read()))
        # HEAD says the same length; tar stays the default.
        status, head, _ = self.request("HEAD", "/web/download/tree/?format=zip", secret)
        self.assertEqual(head["content-length"], headers["content-length"])
        status, headers, _ = self.request("GET", "/web/download/tree/", secret)
        self.assertEqual(headers["content-type"], "application/x-tar")
