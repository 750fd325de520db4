"""A collective watchdog for an MPI run: when a rank makes no progress for `timeout` seconds,
the whole job is ended (MPI_Abort, exit code 4) with one line naming the rank that stalled
and where it was, instead of every other rank waiting for it forever.

Every rank runs a watchdog thread with a communicator of its own (a duplicate of the run's,
so that its messages never meet the trainer's). The main thread reports its progress
(`progress("step 17 (batch 5 of 141)")`), and Comm marks the collectives it waits in. Every
`beat` seconds each thread sends a heartbeat, (where, seconds without progress, the
collective it waits in), from every rank to rank 0 and from rank 0 to every rank. A thread
keeps beating while its main thread computes or waits, so a rank that falls silent has
stopped altogether (SIGSTOP, a frozen node), and one that beats but makes no progress
outside a collective is stuck in its own work.

When its own main thread has made no progress for `timeout` seconds:
- rank 0 names the ranks it has not heard from for `timeout` seconds, else the ranks stuck
  outside a collective, else every rank (all wait: a deadlock), and ends the job; but while
  a rank has missed its beats (nothing for 2 beats) without being silent for `timeout` yet,
  it waits: that rank may have stopped inside the collective the others wait in, and its
  silence, not a deadlock, is then the verdict;
- another rank leaves that to rank 0, unless rank 0 has been silent for `timeout` (then it
  names rank 0) or `grace` more seconds pass without the job ending (then it names itself).

Heartbeats from a second thread need MPI_THREAD_MULTIPLE, which mpi4py asks for by default;
where the library gives less, each rank only ends the job after `timeout` without progress,
naming itself.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

from ..common.cli import EXIT_STALLED
from .comm import Comm

BEAT = 7  # the heartbeats' tag
MAX_BEAT_S = 5.0
FORWARD_S = 0.5  # seconds for mpiexec to forward the watchdog's line before the abort


class Watchdog:
    def __init__(self, comm: Comm, timeout: float, prog: str, beat: float | None = None):
        from mpi4py import MPI

        self._mpi, self.comm, self.timeout, self.prog = MPI, comm, timeout, prog
        self.beat = min(max(timeout / 4, 0.05), MAX_BEAT_S) if beat is None else beat
        self.grace = 2 * self.beat + 1.0
        self.quiet = 2 * self.beat  # a peer that beats every `beat` s has missed a beat
        self.rank, self.size = comm.rank, comm.size
        self.wc = comm.comm.Dup()
        self.peers = list(range(1, self.size)) if self.rank == 0 else [0]
        now = time.monotonic()
        self.where, self.last = "start-up", now
        self.heard = {r: (now, "start-up", 0.0, None) for r in self.peers}
        self.sent: Counter[int] = Counter()
        self.received = 0
        self.requests: list = []
        self.threaded = MPI.Query_thread() == MPI.THREAD_MULTIPLE
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oraclenet-watchdog",
                                        daemon=True)
        self._thread.start()

    def progress(self, where: str) -> None:
        """The main thread is now at `where` (it made progress)."""
        self.where, self.last = where, time.monotonic()

    def _state(self, now: float) -> tuple[str, float, str | None]:
        return self.where, now - self.last, self.comm.waiting

    def _exchange(self, now: float, next_beat: float) -> float:
        if now >= next_beat:
            for peer in self.peers:
                self.requests.append(self.wc.isend(self._state(now), dest=peer, tag=BEAT))
                self.sent[peer] += 1
            self.requests = [r for r in self.requests if not r.Test()]
            next_beat = now + self.beat
        status = self._mpi.Status()
        while self.wc.iprobe(source=self._mpi.ANY_SOURCE, tag=BEAT, status=status):
            source = status.Get_source()
            self.heard[source] = (now, *self.wc.recv(source=source, tag=BEAT))
            self.received += 1
        return next_beat

    def _run(self) -> None:
        next_beat = 0.0
        while not self._stop.wait(min(self.beat / 2, 0.5)):
            now = time.monotonic()
            if self.threaded:
                next_beat = self._exchange(now, next_beat)
            if now - self.last > self.timeout and (verdict := self._verdict(now)):
                print(f"{self.prog}: error: watchdog (--timeout {self.timeout:g}): {verdict}; "
                      "ending the job", file=sys.stderr, flush=True)
                # mpiexec forwards a rank's stderr through a pipe that MPI_Abort's teardown
                # can close unread: give it time to carry the line out (seen lost in CI)
                time.sleep(FORWARD_S)
                self._mpi.COMM_WORLD.Abort(EXIT_STALLED)

    def _verdict(self, now: float) -> str | None:
        """Who stalled, or None while rank 0 is the one to say."""
        where, idle, _ = self._state(now)
        if not self.threaded:
            return f"rank {self.rank} made no progress for {idle:.0f} s, in {where}"
        silent = [r for r in self.peers if now - self.heard[r][0] > self.timeout]
        if silent:
            return "; ".join(f"rank {r} stalled: no word from it for "
                             f"{now - self.heard[r][0]:.0f} s (it last said it was in "
                             f"{self.heard[r][1]})" for r in silent) + (
                f", while rank {self.rank} waits in {where}")
        if any(now - self.heard[r][0] > self.quiet for r in self.peers):
            return None  # its silence will name it, or its next beat will come
        if self.rank != 0:
            if idle > self.timeout + self.grace:
                return (f"rank {self.rank} made no progress for {idle:.0f} s, in {where}, and "
                        "rank 0 did not end the job")
            return None
        states = {0: self._state(now), **{r: self.heard[r][1:] for r in self.peers}}
        stuck = [r for r, (_, idle_r, waiting) in states.items()
                 if waiting is None and idle_r > self.timeout]
        if stuck:
            return "; ".join(f"rank {r} stalled: no progress for {states[r][1]:.0f} s outside "
                             f"any collective, in {states[r][0]}" for r in stuck)
        return "no rank made progress for {:.0f} s, each waiting for the others: {}".format(
            idle, "; ".join(f"rank {r} in {w} ({c})" for r, (w, _, c) in states.items()))

    def stop(self) -> None:
        """End the watch (collective): every heartbeat sent is received, then the
        communicator is freed."""
        self._stop.set()
        self._thread.join()
        self._mpi.Request.Waitall(self.requests)
        sent = self.wc.allgather(dict(self.sent))
        status = self._mpi.Status()
        for _ in range(sum(counts.get(self.rank, 0) for counts in sent) - self.received):
            self.wc.recv(source=self._mpi.ANY_SOURCE, tag=BEAT, status=status)
        self.wc.Free()
