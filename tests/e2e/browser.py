"""A real browser for end-to-end tests of the web page: Debian's headless Chromium, driven through
ChromeDriver's W3C WebDriver protocol (plain HTTP and JSON, so the standard library suffices).

    with Browser(downloads=dir) as b:
        b.get(url)
        b.find("#token").type(token)
        b.find("#signin").click()

Every wait is bounded; a failure says what was awaited and where the page was."""

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = os.environ.get("CAIRN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CAIRN_CHROMEDRIVER", "/usr/bin/chromedriver")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

# Chromium as root, in a machine without a display or outside network: no sandbox (root), no
# GPU, and none of the background fetches that a closed network refuses.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--window-size=1280,900",
]


def available():
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


class WebDriverError(AssertionError):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Element:
    def __init__(self, browser, element_id, selector):
        self.browser = browser
        self.id = element_id
        self.selector = selector

    def _call(self, method, what, body=None):
        return self.browser._call(method, f"/element/{self.id}/{what}", body)

    def click(self):
        self._call("POST", "click", {})
        return self

    def type(self, text):
        self._call("POST", "value", {"text": text})
        return self

    @property
    def text(self):
        return self._call("GET", "text")

    def attribute(self, name):
        return self._call("GET", f"attribute/{name}")

    def find_all(self, selector):
        found = self._call("POST", "elements", {"using": "css selector", "value": selector})
        return [Element(self.browser, e[ELEMENT], selector) for e in found]


class Browser:
    def __init__(self, downloads=None, timeout=20.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="cairn-chromium-")
        self.downloads = downloads
        port = _free_port()
        self.log = open(os.path.join(self.profile, "chromedriver.log"), "w")
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=self.log,
                                       stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        self.session = None
        deadline = time.monotonic() + 20
        while True:
            try:
                if self._raw("GET", "/status")["ready"]:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise WebDriverError("chromedriver did not start")
            time.sleep(0.1)
        options = {"binary": CHROMIUM,
                   "args": CHROMIUM_ARGS + [f"--user-data-dir={self.profile}/data"]}
        if downloads:
            options["prefs"] = {"download.default_directory": downloads,
                                "download.prompt_for_download": False}
        made = self._raw("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options,
            "unhandledPromptBehavior": "ignore"}}})
        self.session = made["sessionId"]
        if downloads:
            self.cdp("Browser.setDownloadBehavior", behavior="allow", downloadPath=downloads)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.session:
            try:
                self._raw("DELETE", f"/session/{self.session}")
            except (OSError, WebDriverError):
                pass
            self.session = None
        if self.driver.poll() is None:
            self.driver.terminate()
            try:
                self.driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _raw(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as e:
            value = json.loads(e.read() or b"{}").get("value", {})
            raise WebDriverError(f"{method} {path}: {value.get('error')}: "
                                 f"{value.get('message', '')[:300]}") from None

    def _call(self, method, path, body=None):
        return self._raw(method, f"/session/{self.session}{path}", body)

    def cdp(self, command, **params):
        return self._call("POST", "/goog/cdp/execute", {"cmd": command, "params": params})

    def reset(self):
        """A clean slate for the next test: no cookies, a desktop's viewport, a blank page."""
        self._call("DELETE", "/cookie")
        self.desktop()
        self.get("about:blank")

    # Navigation and state.
    def get(self, url):
        self._call("POST", "/url", {"url": url})

    @property
    def url(self):
        return self._call("GET", "/url")

    @property
    def title(self):
        return self._call("GET", "/title")

    def cookies(self):
        return self._call("GET", "/cookie")

    def execute(self, script, *args):
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def execute_async(self, script, *args):
        """`script` calls arguments[arguments.length - 1](result) when done."""
        return self._call("POST", "/execute/async", {"script": script, "args": list(args)})

    def alert_text(self):
        """The open alert's text, or None when there is none."""
        try:
            return self._call("GET", "/alert/text")
        except WebDriverError as e:
            if "no such alert" in str(e):
                return None
            raise

    def accept_alert(self):
        self._call("POST", "/alert/accept", {})

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(self._call("GET", "/screenshot")))

    def phone(self, width=390, height=844):
        """Renders as a phone does: that viewport, touch, the page's own viewport meta."""
        self.cdp("Emulation.setDeviceMetricsOverride", width=width, height=height,
                 deviceScaleFactor=2, mobile=True)

    def desktop(self):
        self.cdp("Emulation.clearDeviceMetricsOverride")

    # Finding things, with bounded waits.
    def find_all(self, selector):
        found = self._call("POST", "/elements", {"using": "css selector", "value": selector})
        return [Element(self, e[ELEMENT], selector) for e in found]

    def find(self, selector, timeout=None):
        found = self.wait(lambda: self.find_all(selector), f"an element {selector!r}", timeout)
        return found[0]

    def wait(self, predicate, what, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise WebDriverError(f"timed out waiting for {what} (at {self.url})")
            time.sleep(0.1)

    def wait_for_url(self, fragment):
        return self.wait(lambda: fragment in self.url, f"a URL with {fragment!r}")

    def wait_for_download(self, name, size=None):
        path = os.path.join(self.downloads, name)

        def done():
            if not os.path.exists(path) or os.path.exists(path + ".crdownload"):
                return False
            return size is None or os.path.getsize(path) == size
        self.wait(done, f"the download of {name}")
        return path
