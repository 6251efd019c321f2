"""Executors: how the pairs of a planned benchmark run.

An executor gets the :class:`~sdfrecon.evaluation.benchmark.PairTask` list of a
plan and calls ``report(task, row)`` in the calling process for every pair that
finishes (the collector writes the results there, and only there, so the output
files have one writer whatever runs the pairs).

* :class:`InlineExecutor` -- one pair after the other in this process (the library
  default; a crash of native code ends the run).
* :class:`LocalExecutor` -- a pool of ``workers`` processes on this machine, one
  fresh process per pair (forked from a pre-loaded fork server, so the start-up
  costs milliseconds, not a ``torch`` import): a segfault, an out-of-memory kill
  or any other death of that process is recorded on the pair's row, retried
  ``retries`` times (resuming a neural checkpoint), and the run goes on.
* :class:`RayExecutor` -- one Ray task per pair with its CPU and GPU needs
  declared, on a running cluster (``address="auto"`` or ``HOST:PORT``) or on a
  local Ray instance started for the run; dead workers (crashes, Ray's
  out-of-memory killer, lost nodes) are retried the same way.

Stopping: Ctrl-C or SIGTERM (a ``KeyboardInterrupt`` in this process) stops every
worker -- SIGTERM to each local worker, so a training pair checkpoints at its next
step, then SIGKILL after ``stop_grace`` seconds; Ray tasks are cancelled -- and
the interrupt is raised again. Pairs in progress get no row and rerun (resuming)
next time.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from sdfrecon.base.errors import ConfigError, TrainingInterrupted
from sdfrecon.evaluation.benchmark import PairTask, execute_task, failed_row

log = logging.getLogger(__name__)

Report = Callable[[PairTask, dict], None]
"""``report(task, row)``: called in the calling process when a pair is finished."""


class Executor(Protocol):
    """Runs pair tasks and reports their rows."""

    name: str

    def run(self, tasks: Sequence[PairTask], report: Report) -> None:
        """Run ``tasks``, calling ``report(task, row)`` for each as it finishes.

        Raises ``KeyboardInterrupt`` or :class:`TrainingInterrupted` when stopped.
        """
        ...


def describe_exit(exitcode: int | None) -> str:
    """``"killed by signal 9 (SIGKILL)"`` / ``"exit status 1"`` for a process exit code."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-exitcode} ({name})"
    return f"exit status {exitcode}"


def check_picklable(tasks: Sequence[PairTask], executor: str) -> None:
    """Refuse, before anything runs, tasks a worker process cannot receive (a method or shape
    loader defined as a lambda or a closure); one task per method and the first shape suffice.

    Raises
    ------
    ConfigError
    """
    import pickle

    seen: set[str] = set()
    for task in tasks:
        if task.method.name in seen:
            continue
        seen.add(task.method.name)
        try:
            pickle.dumps(task)
        except Exception as exc:
            raise ConfigError(f"--executor {executor}: method {task.method.name!r} or shape {task.shape.name!r} "
                              f"cannot be sent to a worker process ({type(exc).__name__}: {exc}); define it at "
                              "module level, or use --executor inline") from None


def worker_threads(workers: int, cpus: int | None = None) -> int:
    """Torch threads per worker so ``workers`` workers share the CPUs without oversubscribing."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


# ------------------------------------------------------------------ inline


@dataclass
class InlineExecutor:
    """Every pair in this process, one after the other (shape loaded once per shape)."""

    name: str = "inline"

    def run(self, tasks: Sequence[PairTask], report: Report) -> None:
        cached = None  # (shape name, item): tasks come shape-major, a shape is read once
        for task in tasks:
            item = None
            if cached is not None and cached[0] == task.shape.name:
                item = cached[1]
            else:
                try:
                    item = task.shape.load()
                    cached = (task.shape.name, item)
                except Exception:
                    cached = None  # execute_task records the loading error on the row
            report(task, execute_task(task, item))


# ------------------------------------------------------------------ local pool


PRELOAD = ["sdfrecon.evaluation.executors", "sdfrecon.evaluation.methods", "sdfrecon.evaluation.protocols",
           "sdfrecon.evaluation.scoring", "sdfrecon.pipeline.run", "sdfrecon.evaluation.baselines", "open3d",
           "scipy.spatial", "skimage.measure"]
"""Modules the fork server imports once, so every forked worker starts with them (torch, Open3D)
loaded: a worker importing Open3D itself spends seconds per pair (measured: ~5 s per pair on a
busy 2-core machine, against 0.15 s to fork a pre-loaded worker)."""


def _context():
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _watch_parent(parent: int) -> None:
    """Stop this worker (SIGTERM to itself) when the benchmark process is gone."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent and not _alive(parent):
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _raise_interrupt(signum, frame):  # SIGTERM in a worker -> KeyboardInterrupt (training defers it)
    raise KeyboardInterrupt


def _local_worker(task: PairTask, conn, threads: int, gpu: str | None, parent: int) -> None:
    """Entry point of one worker process: run ``task``, send ``("row", row)`` back."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # a terminal's Ctrl-C reaches the benchmark process only; it stops workers with one SIGTERM
    signal.signal(signal.SIGTERM, _raise_interrupt)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
        message = ("row", execute_task(task))
    except TrainingInterrupted as exc:
        message = ("interrupted", exc.step, None if exc.checkpoint is None else str(exc.checkpoint))
    except KeyboardInterrupt:
        message = ("interrupted", 0, None)
    except BaseException as exc:  # a bug outside run_pair's own handling: still one row, not a lost pair
        message = ("error", f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    try:
        conn.send(message)
    except OSError:
        pass  # the benchmark process is gone (killed): nobody to tell
    finally:
        conn.close()


@dataclass
class _Running:
    process: object
    task: PairTask
    slot: int
    started: float


@dataclass
class LocalExecutor:
    """A pool of ``workers`` processes, one process per pair (module doc).

    Attributes
    ----------
    workers : int
        Pairs run at once.
    retries : int
        Extra attempts for a pair whose worker process died.
    threads : int or None
        Torch threads per worker; None shares the CPUs evenly.
    gpus : list of str or None
        GPU ids handed out round-robin to worker slots (``CUDA_VISIBLE_DEVICES``); None
        uses every visible CUDA device (none on a CPU machine).
    stop_grace : float
        Seconds a stopped worker gets to checkpoint before it is killed.
    """

    workers: int = 1
    retries: int = 1
    threads: int | None = None
    gpus: list[str] | None = None
    stop_grace: float = 60.0
    name: str = "local"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers: must be >= 1, got {self.workers}")
        if self.retries < 0:
            raise ConfigError(f"--retries: must be >= 0, got {self.retries}")

    def _gpus(self) -> list[str]:
        if self.gpus is not None:
            return list(self.gpus)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
        try:
            import torch

            return [str(i) for i in range(torch.cuda.device_count())]
        except Exception:
            return []

    def run(self, tasks: Sequence[PairTask], report: Report) -> None:
        from multiprocessing.connection import wait

        check_picklable(tasks, self.name)
        ctx = _context()
        pending = deque(tasks)
        running: dict[object, _Running] = {}
        gpus = self._gpus()
        threads = self.threads or worker_threads(self.workers)
        free_slots = list(range(self.workers))
        try:
            while pending or running:
                while pending and free_slots:
                    task = pending.popleft()
                    slot = free_slots.pop(0)
                    receive, send = ctx.Pipe(duplex=False)
                    gpu = gpus[slot % len(gpus)] if gpus else None
                    process = ctx.Process(target=_local_worker, args=(task, send, threads, gpu, os.getpid()),
                                          name=f"sdfrecon-pair-{slot}", daemon=False)
                    process.start()
                    send.close()  # the worker holds the only write end: its death reads as EOF here
                    running[receive] = _Running(process, task, slot, time.perf_counter())
                for conn in wait(list(running)):
                    job = running.pop(conn)
                    try:
                        message = conn.recv()
                    except (EOFError, OSError):
                        message = None
                    conn.close()
                    job.process.join()
                    free_slots.append(job.slot)
                    free_slots.sort()
                    self._finish(job, message, pending, report)
        except BaseException:
            self._stop(running)
            raise

    def _finish(self, job: _Running, message, pending: deque, report: Report) -> None:
        task = job.task
        if message is None:  # the process died without a word: crash, OOM kill, segfault
            why = f"worker died: {describe_exit(job.process.exitcode)}"
            if task.attempt <= self.retries:
                log.warning("%s / %s: %s; retrying (attempt %d of %d)", *task.key, why, task.attempt + 1,
                            self.retries + 1)
                pending.appendleft(task.retried())
                return
            report(task, failed_row(task, f"{why} (attempt {task.attempt} of {self.retries + 1})",
                                    seconds=time.perf_counter() - job.started))
        elif message[0] == "row":
            report(task, message[1])
        elif message[0] == "interrupted":
            checkpoint = message[2]
            raise TrainingInterrupted(message[1], None if checkpoint is None else __import__("pathlib").Path(checkpoint))
        else:
            report(task, failed_row(task, f"worker error: {message[1]}", seconds=time.perf_counter() - job.started))

    def _stop(self, running: dict[object, _Running]) -> None:
        """SIGTERM every worker, wait up to ``stop_grace`` s for checkpoints, then SIGKILL."""
        jobs = list(running.values())
        for job in jobs:
            if job.process.is_alive():
                job.process.terminate()
        deadline = time.monotonic() + self.stop_grace
        for job in jobs:
            job.process.join(max(0.0, deadline - time.monotonic()))
            if job.process.is_alive():
                job.process.kill()
                job.process.join()
        for conn in running:
            conn.close()
        running.clear()


# ------------------------------------------------------------------ ray


def _ray_task(task: PairTask, threads: int) -> dict:
    """Body of one Ray task (module level, so Ray ships it by reference)."""
    import torch

    torch.set_num_threads(max(1, threads))
    return execute_task(task)


@dataclass
class RayExecutor:
    """One Ray task per pair (module doc).

    Attributes
    ----------
    address : str or None
        ``auto`` (the cluster this machine belongs to), ``HOST:PORT``, or None for a
        local Ray instance started for the run (and shut down after it).
    cpus_per_pair : float
        CPUs each task declares.
    gpus_per_pair : float or None
        GPUs each neural task declares; None: 1 when the cluster has GPUs, else 0.
        Classical methods declare none.
    retries : int
        Extra attempts for a pair whose Ray worker died.
    num_cpus : int or None
        CPUs of a local instance (None: all of this machine's).
    max_in_flight : int or None
        Tasks submitted at once (None: 4 x the cluster's CPUs, at least 16); the
        rest wait in this process, so a 10,000-pair suite does not flood the scheduler.
    """

    address: str | None = None
    cpus_per_pair: float = 1.0
    gpus_per_pair: float | None = None
    retries: int = 1
    num_cpus: int | None = None
    max_in_flight: int | None = None
    name: str = "ray"

    def __post_init__(self) -> None:
        if self.cpus_per_pair <= 0 or (self.gpus_per_pair is not None and self.gpus_per_pair < 0):
            raise ConfigError("--cpus-per-pair must be > 0 and --gpus-per-pair >= 0")
        if self.retries < 0:
            raise ConfigError(f"--retries: must be >= 0, got {self.retries}")

    @staticmethod
    def import_ray():
        """The ``ray`` module; :class:`ConfigError` with the install line when it is missing."""
        try:
            import ray
        except ImportError:
            raise ConfigError('--executor ray: Ray is not installed; pip install "sdfrecon[ray]"') from None
        return ray

    def _init(self, ray) -> bool:
        """Connect to (or start) Ray; True when this call started it."""
        if ray.is_initialized():
            return False
        kwargs = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True,
                      configure_logging=False)
        if self.address is None:
            # A local instance: its workers import what this process can (same machine), so
            # methods defined outside the installed package still resolve there.
            paths = [p for p in sys.path if p and os.path.isdir(p)]
            kwargs["num_cpus"] = self.num_cpus
            # Tasks and rows are small: a small object store leaves the memory to the methods
            # (Ray's default takes 30 % of the machine's RAM).
            kwargs["object_store_memory"] = 256 * 1024 * 1024
            kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}
        try:
            ray.init(address=self.address, **kwargs)
        except ConnectionError as exc:
            raise ConfigError(f"--address {self.address}: cannot connect to a Ray cluster ({exc})") from None
        return True

    def run(self, tasks: Sequence[PairTask], report: Report) -> None:
        if not tasks:
            return
        ray = self.import_ray()
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError

        started = self._init(ray)
        refs: dict[object, tuple[PairTask, float]] = {}
        try:
            resources = ray.cluster_resources()
            gpus = self.gpus_per_pair
            if gpus is None:
                gpus = 1.0 if resources.get("GPU", 0) > 0 else 0.0
            limit = self.max_in_flight or max(16, int(4 * resources.get("CPU", 1)))
            remote = ray.remote(_ray_task)
            threads = max(1, int(self.cpus_per_pair))
            pending = deque(tasks)

            def submit(task: PairTask) -> None:
                options = dict(num_cpus=self.cpus_per_pair, num_gpus=gpus if task.neural else 0,
                               max_retries=0, name=f"{task.shape.name}/{task.method.name}")
                refs[remote.options(**options).remote(task, threads)] = (task, time.perf_counter())

            while pending or refs:
                while pending and len(refs) < limit:
                    submit(pending.popleft())
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
                for ref in ready:
                    task, t0 = refs.pop(ref)
                    try:
                        row = ray.get(ref)
                    except RayTaskError as exc:
                        cause = getattr(exc, "cause", None)
                        if isinstance(cause, (TrainingInterrupted, KeyboardInterrupt)) or isinstance(exc, TaskCancelledError):
                            raise KeyboardInterrupt from None
                        row = failed_row(task, f"worker error: {type(cause or exc).__name__}: "
                                               f"{' '.join(str(cause or exc).split())[:300]}",
                                         seconds=time.perf_counter() - t0)
                    except RayError as exc:  # the worker or its node died, Ray's OOM killer, ...
                        why = f"worker died: {type(exc).__name__}"
                        if task.attempt <= self.retries:
                            log.warning("%s / %s: %s; retrying (attempt %d of %d)", *task.key, why,
                                        task.attempt + 1, self.retries + 1)
                            pending.appendleft(task.retried())
                            continue
                        row = failed_row(task, f"{why} (attempt {task.attempt} of {self.retries + 1})",
                                         seconds=time.perf_counter() - t0)
                    report(task, row)
        except BaseException:
            for ref in refs:
                try:
                    ray.cancel(ref, force=False)
                except Exception:
                    pass
            raise
        finally:
            if started:
                ray.shutdown()


EXECUTORS = ("inline", "local", "ray")
"""Executor names the command line accepts."""
