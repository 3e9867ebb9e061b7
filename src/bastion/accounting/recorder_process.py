"""The recorder process: builds and writes the gateway's ledger rows and audit records.

Building a ledger row and an audit record, hashing the record into the chain and
the database writes cost several times what proxying a request does; in the
gateway process they share its core and its GIL with the requests. Each gateway
process (each uvicorn worker) therefore starts one recorder process of its own
and hands it batches:

    gateway                                   recorder process
    Recorder: a request's facts, encoded, queued
    every flush interval, a batch:
      joined into one JSON array, one frame ->  RecordWriter (accounting/record_writer.py):
                                                rows, records, chain, one transaction
      the batch leaves the queue  <---------  "ok" once committed (or the error)

It is a plain ``python -m bastion.accounting.recorder_process`` talking over its
stdin and stdout (length-prefixed pickle frames), not ``multiprocessing``: a
spawned multiprocessing child would import the parent's ``__main__`` (uvicorn's,
pytest's) and daemonic uvicorn workers may not have one. The database URL and
the trail's key go through the pipe, never the command line or the environment.

What holds, and how:

- Nothing lost or doubled: the gateway keeps a batch queued until its commit is
  acknowledged. If the process dies, the batch is sent again to a new process
  (after the writer's usual pause) marked ``again``: rows and records a lost
  commit had written are left out, and the chain's head is read from the
  database. An old process is always gone before a new one starts, so two never
  write one chain.
- The gateway's metrics stay right: queue depth and flush errors are the
  gateway's batch writer's (store/batch.py), which counts an unanswered or
  failed batch as a failed write.
- Graceful shutdown: the gateway writes everything (as before), then tells the
  process to stop and waits for it (``shutdown_timeout``), saying in its log if it
  gave up. If the gateway dies, the process reads end-of-file once the batch in
  hand is committed, and exits: there are no orphans. It ignores SIGINT and
  SIGTERM (a terminal's Ctrl-C, a service manager's stop) so that the gateway's
  graceful shutdown decides.
- Its log lines travel back with each answer and are logged by the gateway.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
import signal
import sqlite3
import struct
import sys
import traceback
from collections.abc import Callable
from typing import IO, Any, cast

import bastion
from bastion.accounting.record_writer import RecordSpec, RecordWriter
from bastion.store.database import Database

log = logging.getLogger("bastion.accounting")

_HEADER = struct.Struct(">Q")  # an answer: its length, then a pickle
_FRAME = struct.Struct(">QQ")  # a message: its pickle's length, its payload's, then both
_MODULE = "bastion.accounting.recorder_process"
_MAX_LINES = 1000  # log lines kept for one answer (a flood is cut)
# The collector's youngest generation, in allocations: a batch's facts and records (~50
# containers a request) live until its end, and at the default 700 the collector walked
# them several times a batch and its full passes walked every imported module's objects
# (30 K to 65 K instructions a request, a tenth to a fifth of the process's work).
_GC_YOUNG = 50_000
# Where the gateway imported the package from (a checkout's src/ included): the process's too.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(bastion.__file__)))


class RecorderGone(ConnectionError):
    """The recorder process ended before it answered (its batch stays queued)."""


class RecorderFailed(RuntimeError):
    """The recorder process could not write a batch (the database's error, as text)."""


class RecorderProcess:
    """The gateway's side: starts the process, sends it batches, restarts it when it dies."""

    def __init__(self, url: str, spec: RecordSpec, shutdown_timeout: float = 15.0) -> None:
        self._url = url
        self._spec = spec
        self._shutdown_timeout = shutdown_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Task[None] | None = None
        self._abandoned: asyncio.subprocess.Process | None = None  # killed, maybe not reaped
        self.started = 0  # processes started (more than one: it was restarted)

    @property
    def pid(self) -> int | None:
        """The running process's id (None: none running)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def start(self) -> None:
        """Start the process now, so that it has imported and connected by the first batch."""
        if self._proc is None and self._starting is None:
            self._starting = asyncio.create_task(self._spawn(), name="bastion-recorder-start")

    async def write(self, batch: bytes, again: bool, day: str) -> dict[str, int]:
        """Send a batch and wait for its commit; what RecordWriter.write returns.

        A process found dead, or dying before it answers, is replaced and the batch sent
        to the new one at once, marked ``again`` (its commit may have landed); a second
        death is the writer's failure (the batch stays queued, and is tried again)."""
        retried = False
        while True:
            proc = await self._running()
            try:
                _send(proc, ("write", again, day), batch)
                await _drain(proc)
                status, value, lines = await _receive(proc)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                self._abandon(proc)
                if retried:
                    raise RecorderGone(f"the recorder process {proc.pid} ended mid-batch") from exc
                log.warning(
                    "the recorder process %d ended before it answered: its batch goes to "
                    "another, which leaves out what a lost commit had written",
                    proc.pid,
                )
                again = retried = True
                continue
            except BaseException:
                # This write was given up (cancelled): what the process does with the batch
                # is unknown, so it is stopped (and waited for before another starts).
                self._abandon(proc)
                raise
            _log_lines(lines)
            if status != "ok":
                raise RecorderFailed(str(value))
            return dict(value)

    async def close(self) -> None:
        """Stop the process once it has written what it has (called after the last batch)."""
        if self._starting is not None:
            await self._started()
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            await self._reap()
            return
        try:
            _send(proc, ("stop",))
            await _drain(proc)
            if proc.stdin is not None:
                proc.stdin.close()
        except ConnectionError:
            pass  # gone already: waited for below
        try:
            await asyncio.wait_for(proc.wait(), self._shutdown_timeout)
        except TimeoutError:
            log.error(
                "the recorder process %d did not stop within %.0f s of shutdown: killed",
                proc.pid,
                self._shutdown_timeout,
            )
            proc.kill()
            await proc.wait()
        if proc.returncode:
            log.warning("the recorder process %d exited with %s", proc.pid, proc.returncode)

    async def _running(self) -> asyncio.subprocess.Process:
        if self._starting is not None:
            await self._started()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            return proc
        if proc is not None:
            log.warning(
                "the recorder process %d exited (%s): starting another; what it had not "
                "committed is sent again",
                proc.pid,
                proc.returncode,
            )
            self._proc = None
        await self._spawn()
        if self._proc is None:
            raise RecorderGone("the recorder process could not be started")
        return self._proc

    async def _started(self) -> None:
        task, self._starting = self._starting, None
        if task is not None:
            try:
                await task
            except Exception as exc:  # started again at the next batch
                log.error("could not start the recorder process (%s: %s)", type(exc).__name__, exc)

    async def _spawn(self) -> None:
        await self._reap()  # never two processes on one chain
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            _MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        level = logging.getLogger("bastion").getEffectiveLevel()
        _send(proc, ("hello", self._url, self._spec, level))
        self._proc = proc
        self.started += 1

    def _abandon(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            proc.kill()
        self._abandoned = proc
        if self._proc is proc:
            self._proc = None

    async def _reap(self) -> None:
        proc, self._abandoned = self._abandoned, None
        if proc is not None:
            await proc.wait()


def _send(proc: asyncio.subprocess.Process, message: tuple[Any, ...], payload: bytes = b"") -> None:
    """A frame: the message (pickled), then its payload as it is (a batch is not copied
    into a pickle)."""
    if proc.stdin is None:
        raise RecorderGone("the recorder process has no input")
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    proc.stdin.write(_FRAME.pack(len(data), len(payload)) + data)
    if payload:
        proc.stdin.write(payload)


async def _drain(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None:
        await proc.stdin.drain()


async def _receive(proc: asyncio.subprocess.Process) -> tuple[str, Any, list[Any]]:
    if proc.stdout is None:
        raise RecorderGone("the recorder process has no output")
    (size,) = _HEADER.unpack(await proc.stdout.readexactly(_HEADER.size))
    status, value, lines = pickle.loads(await proc.stdout.readexactly(size))
    return status, value, lines


def _log_lines(lines: list[tuple[str, int, str]]) -> None:
    for name, level, text in lines:
        logging.getLogger(name).log(level, "%s (recorder process)", text)


# --- the recorder process -----------------------------------------------------------------


class _Collect(logging.Handler):
    """Keeps the process's log lines until the next answer carries them to the gateway."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.lines: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) >= _MAX_LINES:
            return
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        self.lines.append((record.name, record.levelno, text))

    def take(self) -> list[tuple[str, int, str]]:
        lines, self.lines = self.lines, []
        return lines


async def _read(reader: asyncio.StreamReader) -> tuple[tuple[Any, ...], bytes] | None:
    """The next message and its payload; None at end of input (the gateway closed it, or
    is gone)."""
    try:
        size, payload = _FRAME.unpack(await reader.readexactly(_FRAME.size))
        message: tuple[Any, ...] = pickle.loads(await reader.readexactly(size))
        return message, await reader.readexactly(payload) if payload else b""
    except asyncio.IncompleteReadError:
        return None


def _collect_less() -> None:
    """What is alive once started is kept for good (frozen: never walked again), and the
    young generation is collected every few batches rather than several times each (the
    batches' objects are freed by their counts: they form no cycles)."""
    gc.freeze()
    gc.set_threshold(_GC_YOUNG, *gc.get_threshold()[1:])


def _bind_directly() -> None:
    """None and bools bound without sqlite3's adapter search, which for a value not an
    int, float or str asks its protocol class for ``__adapt__`` and formats the
    AttributeError it gets (~3.3 K instructions a value, some ten a request: a tenth of
    this process's work). Bound the same: NULL, and 1 or 0 (bool is bound as an int).
    Process-wide, and this process writes only its batches."""
    sqlite3.register_adapter(bool, int)
    sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))  # in C


def _answer(out: IO[bytes], message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(data)))
    out.write(data)
    out.flush()


async def _serve(out: IO[bytes]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    hello = await _read(reader)
    if hello is None or hello[0][0] != "hello":
        return
    _, url, spec, level = hello[0]
    collect = _Collect(level)
    root = logging.getLogger()
    root.handlers[:] = [collect]
    root.setLevel(level)
    database = Database(url)
    writer = RecordWriter(database, spec)
    _collect_less()
    if database.dialect == "sqlite":
        _bind_directly()
    try:
        while True:
            frame = await _read(reader)
            if frame is None or frame[0][0] == "stop":
                return  # everything received is committed (or was answered with its error)
            (_, again, day), batch = frame
            answer: tuple[str, Any, list[tuple[str, int, str]]]
            try:
                answer = ("ok", await writer.write(batch, again, day), collect.take())
            except Exception as exc:
                text = f"{type(exc).__name__}: {str(exc)[:500]}"
                answer = ("error", text, collect.take())
            try:
                _answer(out, answer)
            except BrokenPipeError:
                return  # the gateway is gone; what was written is committed
    finally:
        await database.close()


def main() -> None:
    # The gateway decides when this process stops (its graceful shutdown, or its end).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Answers go out on a private copy of stdout; stray prints go to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    asyncio.run(_serve(out))


if __name__ == "__main__":
    main()
