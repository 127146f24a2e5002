"""`python -m kg.kgstore.idle_watch HOME PID IDLE_S`: stops the embedded graph server PID once it has had no Bolt
connection and no `kg` command for IDLE_S seconds, then exits; exits too when the server is gone. Started, detached,
with the server by `kgstore.embedded`, so an idle ~400 MB JVM does not outlive its use."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kg.kgstore.embedded import stop_if_idle


def main(argv: list[str]) -> int:
    home, pid, idle_s = Path(argv[0]), int(argv[1]), float(argv[2])
    poll = min(max(idle_s / 4, 0.5), 30.0)
    next_check = time.monotonic() + poll
    while True:
        time.sleep(0.5)
        if not Path(f"/proc/{pid}").exists():
            return 0  # stopped by `kg server stop` or killed
        if time.monotonic() < next_check:
            continue
        next_check = time.monotonic() + poll
        stopped = stop_if_idle(home, pid, idle_s)
        if stopped is None:
            return 0
        if stopped:
            print(f"stopped the graph server (pid {pid}) after {idle_s:.0f} s idle", file=sys.stderr, flush=True)
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
