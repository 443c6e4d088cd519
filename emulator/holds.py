"""Holds: the stand-in keeps a request waiting until the test releases it, and tells the test it arrived.

Crash tests use them to stop a real process at a known point of a rotation (the re-read GET, the poll
of a running update, the verifying GET, the telemetry POST) and kill it there. Nothing in production
code knows about them, and nothing depends on timing: the test waits on ``arrived``, never on a sleep.

A held request is served normally once released, as a server serves a request its client has sent in
full and then stopped waiting for (the answer goes to a closed socket).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.world import Request, World

SAFETY_TIMEOUT_S = 120.0  # a forgotten hold must not wedge the stand-in's thread forever


class HoldNotReached(AssertionError):
    pass


@dataclass
class Hold:
    method: str | None = None
    host: str | None = None  # suffix, as faults match hosts
    path_contains: str | None = None
    skip: int = 0  # matching requests let through before the one held
    when: Callable[[Request], bool] | None = None  # a further condition on the request (its body, say)
    arrived_event: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    request: Request | None = None

    def matches(self, req: Request) -> bool:
        return ((self.method is None or self.method.upper() == req.method.upper())
                and (self.host is None or req.host.endswith(self.host.lower()))
                and (self.path_contains is None or self.path_contains.lower() in req.path.lower())
                and (self.when is None or self.when(req)))

    def wait_arrived(self, timeout: float = 60) -> Request:
        """Block until the held request has reached the stand-in; returns it."""
        if not self.arrived_event.wait(timeout):
            raise HoldNotReached(f"no request matching {self.describe()} arrived within {timeout} s")
        assert self.request is not None
        return self.request

    @property
    def arrived(self) -> bool:
        return self.arrived_event.is_set()

    def release(self) -> None:
        self.released.set()

    def describe(self) -> str:
        return f"{self.method or '*'} {self.host or '*'} *{self.path_contains or ''}* (skip {self.skip})"


def arm(world: World, hold: Hold) -> Hold:
    with world.lock:
        world.holds.append(hold)
    return hold


def wait_if_held(world: World, req: Request) -> None:
    """Called by the proxy for every request before it is served: the first armed hold it matches
    takes it (once), signals the test and keeps it until released."""
    if not world.holds:  # the common case: no lock taken
        return
    with world.lock:
        taken = None
        for hold in world.holds:
            if hold.request is None and hold.matches(req):
                if hold.skip > 0:
                    hold.skip -= 1
                    continue
                hold.request = req
                taken = hold
                break
    if taken is None:
        return
    taken.arrived_event.set()
    taken.released.wait(SAFETY_TIMEOUT_S)


def release_all(world: World) -> None:
    with world.lock:
        holds = list(world.holds)
    for hold in holds:
        hold.release()
