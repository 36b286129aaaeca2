"""`python -m embedded.reaper KIND DIRECTORY`: stops an embedded server once no process uses it.

The processes using a server stop it themselves when they exit normally (the last one out). This process covers
the other ends -- SIGKILL, a closed terminal, a crash, a machine's OOM killer -- after which nobody would: twice a
second it looks (under the start lock) whether any process still holds a share of the server (embedded/lease.py),
and once none does, stops it and exits. One reaper per server (its own lock); it runs in its own session,
so the hangup or Ctrl-C that ends its starters does not end it, and it exits once its server is stopped.

It is started through a launcher that forks it and exits, so it is nobody's child: no zombie is left in a long-lived
starter (a test session), and a starter's process group, which a hangup reaches, does not contain it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

from embedded.lease import Lease
from embedded.servers import KINDS, server_process, stop_orphaned, stop_server

log = logging.getLogger("opentr.embedded.reaper")
POLL_SECONDS = 0.5


def _report(line: str) -> None:
    """Tell the starter (waiting on our stdout) and let go of its pipe: it must not outlive this line."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def reap(kind_name: str, directory: Path) -> int:
    kind, lease = KINDS[kind_name], Lease(directory)
    duty = lease.take_reaper_duty()
    if duty is None:
        _report("on duty already (another reaper)")
        return 0
    _report("on duty")
    handler = logging.FileHandler(lease.log_path, delay=True)  # a file only once there is something to say
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = None
    while True:
        time.sleep(POLL_SECONDS)
        try:
            with lease.starting():  # asked under it, our probe cannot be mistaken for a user by a process leaving
                server = server_process(kind, directory) or server
                if lease.in_use():
                    continue
                if server is not None and server.is_running():
                    log.info(
                        "nobody uses embedded %s in %s any more; stopping it (pid %s)",
                        kind.label,
                        directory,
                        server.pid,
                    )
                    stop_server(kind, directory, server)
                # Hand the duty over before the start lock goes: the next process to start sees no reaper, starts one.
                os.close(duty)
                return 0
        except FileNotFoundError:  # the home was removed under it
            stop_orphaned(kind, server)
            return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in KINDS:
        print(f"usage: python -m embedded.reaper {{{','.join(KINDS)}}} DIRECTORY", file=sys.stderr)
        return 2
    for signum in (signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    if os.fork() != 0:  # the launcher: its child reports on our shared stdout, then lives on its own
        os._exit(0)
    try:
        return reap(argv[1], Path(argv[2]))
    except Exception:
        log.exception("the reaper of %s failed", argv[2])
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
