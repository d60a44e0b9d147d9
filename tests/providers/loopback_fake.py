"""What every hosted provider's loopback fake shares: a threaded HTTP server on 127.0.0.1,
the request log and counters, injected faults and the SIGKILL hook of the crash matrix."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackFake:
    """Subclasses set their own state, then call ``super().__init__()`` and define ``_handler``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.violations: list[str] = []
        # (method, path template, kind) -> how many more requests get the fault
        self.faults: dict[tuple[str, str, str], int] = {}
        # (method, path template) -> [nth, pid]: on the nth such request do the work, then SIGKILL
        # the client before it reads the answer (the crash matrix)
        self.kill_on: dict[tuple[str, str], list[int]] = {}
        self._n = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:  # pragma: no cover - each fake has its own
        raise NotImplementedError

    def start(self) -> Any:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fault(self, method: str, template: str, kind: str, count: int = 1) -> None:
        self.faults[(method, template, kind)] = count

    def take_fault(self, method: str, template: str, kind: str) -> bool:
        left = self.faults.get((method, template, kind), 0)
        if left > 0:
            self.faults[(method, template, kind)] = left - 1
        return left > 0

    def count(self, method: str, template: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p == template)
