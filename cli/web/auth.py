"""Who may use a `kg serve` that has an API key: API clients send the key; a browser logs in once and then holds a
random session token (the cookie is never the key itself). Wrong keys are throttled per client address, so the key
cannot be guessed at the speed of the network."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from fastapi.responses import JSONResponse
from starlette.types import Scope

from kg.cli.web.schemas import error_response

SESSION_COOKIE = "kg_session"
SESSION_S = 12 * 3600  # a browser logs in again after this
MAX_FAILURES = 5  # wrong keys from one address within THROTTLE_S before it must wait
THROTTLE_S = 60.0


@dataclass
class Access:
    key: str | None
    _sessions: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.monotonic())
    _failures: dict[str, list[float]] = field(default_factory=dict)  # client address -> times of wrong keys

    def key_ok(self, given: str) -> bool:
        return self.key is not None and hmac.compare_digest(given.encode(), self.key.encode())

    def new_session(self) -> str:
        now = time.monotonic()
        self._sessions = {t: end for t, end in self._sessions.items() if end > now}
        token = secrets.token_urlsafe(32)
        self._sessions[token] = now + SESSION_S
        return token

    def session_ok(self, token: str) -> bool:
        end = self._sessions.get(token)
        return end is not None and end > time.monotonic()

    def wait_s(self, client: str) -> int:
        """Seconds `client` must wait before its next try (0: it may try now)."""
        now = time.monotonic()
        recent = [t for t in self._failures.get(client, []) if t > now - THROTTLE_S]
        if len(recent) < MAX_FAILURES:
            return 0
        return max(1, int(recent[-MAX_FAILURES] + THROTTLE_S - now + 0.999))

    def failed(self, client: str) -> None:
        now = time.monotonic()
        for address in [a for a, times in self._failures.items() if times[-1] <= now - THROTTLE_S]:
            del self._failures[address]
        self._failures.setdefault(client, []).append(now)
        del self._failures[client][:-MAX_FAILURES]


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def throttled(wait: int) -> JSONResponse:
    return error_response(429, f"too many wrong API keys from this address: try again in {wait} s",
                          headers={"Retry-After": str(wait)})
