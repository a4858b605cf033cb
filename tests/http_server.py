"""A local HTTP server on 127.0.0.1 for the download tests: it plays the hosts of datasets, weights and
published results (``conftest.http_server`` starts one per call and stops them after the test).

It serves the files of ``files`` (path -> bytes, in memory) and, for other paths, those of ``folder``
(on disk), under ``prefix``: ``server.url("a/b.bin")`` is ``http://127.0.0.1:<port>/<prefix>/a/b.bin``
and ``server.base`` that URL's folder. What it does with a request is ``mode`` (every file) unless
``modes`` names the file:

* ``"ok"``: the file, with its ``Content-Length``;
* ``"truncated"``: announces every byte, sends the first half and closes the connection;
* ``"html"``: a small HTML page instead of the file (a host that moved its files), status 200;
* ``"stall"``: announces every byte, sends the first half and then nothing, the connection kept open
  (until the server stops);
* ``"drip"``: announces every byte and sends one every ``drip_s`` seconds (0.05 by default): a host
  that never stalls long enough for a read to time out but would take hours;
* an ``int``: that HTTP status and no file (``404`` is also the answer for a file it does not have).

Every request's path (relative to ``prefix``) is appended to ``requests``, in order, and its ``Range``
header (or None) to ``ranges``. A request with ``Range: bytes=N-`` gets ``206 Partial Content`` from byte
N (``416`` when N is past the end) unless ``honour_ranges`` is False (a server that always sends the
whole file); the mode then applies to the part sent.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

HTML_PAGE = b"<html><body>This page has moved.</body></html>"


class LocalHTTPServer(ThreadingHTTPServer):
    """The server (see the module docstring); :meth:`start` serves in a thread, :meth:`stop` ends it."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes] | None = None, folder: Path | None = None, prefix: str = "") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = dict(files or {})
        self.folder = Path(folder) if folder is not None else None
        self.prefix = prefix.strip("/")
        self.mode: str | int = "ok"
        self.modes: dict[str, str | int] = {}
        self.requests: list[str] = []
        self.ranges: list[str | None] = []
        self.honour_ranges = True
        self.drip_s = 0.05
        self.stopping = threading.Event()

    @property
    def base(self) -> str:
        """The URL of the served folder (no trailing slash)."""
        root = f"http://127.0.0.1:{self.server_address[1]}"
        return f"{root}/{self.prefix}" if self.prefix else root

    def url(self, path: str = "") -> str:
        return f"{self.base}/{path}"

    def start(self) -> LocalHTTPServer:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # ends the stalled and dripping answers
        self.shutdown()
        self.server_close()

    def content(self, path: str) -> bytes | None:
        """The bytes served at ``path`` (relative to ``prefix``), or None."""
        if path in self.files:
            return self.files[path]
        if self.folder is not None and path:
            candidate = (self.folder / path).resolve()
            if candidate.is_relative_to(self.folder.resolve()) and candidate.is_file():
                return candidate.read_bytes()
        return None


class _Handler(BaseHTTPRequestHandler):
    server: LocalHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = unquote(urlsplit(self.path).path).lstrip("/")
        prefix = self.server.prefix
        if prefix:
            if path != prefix and not path.startswith(prefix + "/"):
                self.server.requests.append(path)
                self.send_error(404)
                return
            path = path[len(prefix) :].lstrip("/")
        self.server.requests.append(path)
        mode = self.server.modes.get(path, self.server.mode)
        data = self.server.content(path)
        if isinstance(mode, int) or data is None:
            self.send_error(mode if isinstance(mode, int) else 404)
            return
        if mode == "html":
            data = HTML_PAGE
        asked = self.headers.get("Range")
        self.server.ranges.append(asked)
        if asked and self.server.honour_ranges and asked.startswith("bytes=") and asked.endswith("-"):
            start = int(asked[len("bytes=") : -1])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self._send(data, mode)
        except OSError:  # the client gave up
            pass
        if mode != "ok":
            self.close_connection = True

    def _send(self, data: bytes, mode: str) -> None:
        if mode == "drip":
            for i in range(len(data)):
                if self.server.stopping.wait(self.server.drip_s):
                    return
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
            return
        self.wfile.write(data[: len(data) // 2] if mode in ("truncated", "stall") else data)
        if mode == "stall":
            self.wfile.flush()
            self.server.stopping.wait()

    def log_message(self, *args) -> None:
        pass
