"""Login throttling: per user name and per client address, with a lock that doubles each time.

After `per_user` failed logins for one user name (or `per_client` from one address, whatever the
names), further attempts are refused for `base` seconds, then twice that after the next failure,
and so on up to `cap`; a refused attempt does not even check the password. Failures older than
`window` are forgotten; a successful login clears its user name's count (not the address's, so one
valid account cannot be used to reset the count while guessing others). Kept in the server's memory
(one process serves the desk); a restart forgets it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class _Entry:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(self, per_user: int = 5, per_client: int = 20, base: float = 30.0, cap: float = 900.0,
                 window: float = 900.0, clock=time.monotonic):
        self.per_user, self.per_client = per_user, per_client
        self.base, self.cap, self.window = base, cap, window
        self.clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, client: str | None) -> list[tuple[str, str]]:
        return [("user", (username or "").strip().casefold()), ("client", client or "?")]

    def wait(self, username: str, client: str | None) -> float:
        """Seconds until this user name and address may try again (0: now)."""
        t = self.clock()
        with self._lock:
            return max([e.locked_until - t for k in self._keys(username, client)
                        if (e := self._entries.get(k)) is not None] + [0.0])

    def failed(self, username: str, client: str | None) -> None:
        t = self.clock()
        with self._lock:
            if len(self._entries) > 10_000:  # forget what the window has passed
                self._entries = {k: e for k, e in self._entries.items()
                                 if t - e.last < self.window or e.locked_until > t}
            for key, limit in zip(self._keys(username, client), (self.per_user, self.per_client)):
                e = self._entries.setdefault(key, _Entry())
                if t - e.last > self.window and e.locked_until <= t:
                    e.failures = 0
                e.failures += 1
                e.last = t
                if e.failures >= limit:
                    e.locked_until = t + min(self.cap, self.base * 2 ** (e.failures - limit))

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._entries.pop(self._keys(username, None)[0], None)
