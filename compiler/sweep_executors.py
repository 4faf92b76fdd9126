"""Where a sweep's points run: in this process, a local process pool, or a Ray cluster.

Beside the flow, under :func:`moecc.sweep.run_sweep`: an executor takes the sweep's shared
:class:`~moecc.sweep.SweepJob` (the model's bytes, the inputs, the reference outputs, the base
part) and its points, evaluates each with :func:`moecc.sweep.evaluate_point`, and yields
``(point index, row)`` as each finishes; the sweep puts the rows back in point order.

* :class:`LocalExecutor`: ``jobs`` worker processes (``spawn``: a fresh interpreter, never a
  fork of a process with numpy's or llvmlite's threads), each given the job once and running
  numpy's BLAS in one thread unless ``OMP_NUM_THREADS`` says otherwise, as Ray's workers do;
  ``jobs=1`` evaluates the points in this process, one after the other. An exception other than a
  :class:`~moecc.errors.MoeccError` (a bug, or a worker killed by the machine) is the point's
  failed row with the exception's type and text; it is not retried, since the same machine
  would fail it again.
* :class:`RayExecutor`: one Ray task per point on a local Ray instance (``ray.init()``) or a
  cluster (``address``). Ray re-runs a task whose worker died (``max_retries``); a task that
  raised something other than a MoeccError is submitted again up to ``retries`` times, and
  after that it is a failed row, ``lost after N attempts: ...``. A MoeccError is the point's
  real result (it cannot compile) and is never retried. Ray is started here only when it is
  not running yet, and shut down only if it was started here.

For tests, :data:`FAULT_ENV` makes chosen points raise a RuntimeError (read in the process that
evaluates the point: workers of a local pool or of a local Ray instance started by the sweep
inherit it; on a cluster it must be set in the workers' environment). Its value is a comma list
of ``POINT:ATTEMPTS``: point index POINT raises on its first ATTEMPTS attempts (a number) or on
every attempt (``always``); e.g. ``1:1,2:always``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any

from moecc.errors import OptionError
from moecc.sweep import Point, Row, SweepJob, evaluate_point, failed_row

FAULT_ENV = "MOECC_SWEEP_INJECT_FAULT"

EXECUTORS = ("local", "ray")


def run_point(job: SweepJob, index: int, point: Point, attempt: int) -> Row:
    """Evaluate point ``index`` (its ``attempt``-th try, from 0): what every executor's worker runs."""
    _inject_fault(index, attempt)
    return evaluate_point(job, point)


def _inject_fault(index: int, attempt: int) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point_text, _, attempts_text = item.partition(":")
        if int(point_text) == index and (attempts_text == "always" or attempt < int(attempts_text)):
            raise RuntimeError(f"fault injected by {FAULT_ENV}={spec} (attempt {attempt + 1})")


def _exception_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# -- local ------------------------------------------------------------------------------

_WORKER_JOB: SweepJob | None = None  # the job of this pool worker, set once by _start_worker


def _start_worker(job: SweepJob) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _run_in_worker(index: int, point: Point) -> Row:
    assert _WORKER_JOB is not None, "pool worker started without its job"
    return run_point(_WORKER_JOB, index, point, 0)


@contextmanager
def _one_blas_thread_in_new_processes() -> Iterator[None]:
    """Processes started in this block run numpy's BLAS in one thread, unless the user set
    ``OMP_NUM_THREADS`` (what Ray does for its workers). The workers already fill the cores;
    OpenBLAS threads of several workers spinning against each other make a point several times
    slower, and the thread count changes the order of a matmul's sums, so every worker uses the
    same. (A started process keeps the environment it was started with; this one's is restored.)"""
    if "OMP_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        del os.environ["OMP_NUM_THREADS"]


class LocalExecutor:
    """Points on this machine: ``jobs`` spawned worker processes (default: one per CPU), or in
    this process when ``jobs`` is 1."""

    def __init__(self, jobs: int | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise OptionError(f"--jobs {jobs}: give at least 1 worker", remedy="e.g. --jobs 4 (1: in this process)")
        self.jobs = jobs or os.cpu_count() or 1

    def run(self, job: SweepJob, points: Sequence[Point]) -> Iterator[tuple[int, Row]]:
        if self.jobs == 1:
            for index, point in enumerate(points):
                try:
                    yield index, run_point(job, index, point, 0)
                except Exception as exc:  # noqa: BLE001 - a point's bug is its row, not the sweep's end
                    yield index, failed_row(point, _exception_text(exc), None)
            return
        pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(points)), mp_context=get_context("spawn"),
                                   initializer=_start_worker, initargs=(job,))
        try:
            with _one_blas_thread_in_new_processes():  # the pool starts its workers as points are submitted
                futures: dict[Future[Row], int] = {pool.submit(_run_in_worker, i, p): i for i, p in enumerate(points)}
            for future in as_completed(futures):
                index = futures[future]
                try:
                    yield index, future.result()
                except Exception as exc:  # noqa: BLE001 - includes BrokenProcessPool when a worker was killed
                    yield index, failed_row(points[index], _exception_text(exc), None)
        finally:  # also when the consumer stops early (an error, ^C): points not started are dropped
            pool.shutdown(wait=True, cancel_futures=True)


# -- Ray --------------------------------------------------------------------------------

def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise OptionError("--executor ray needs Ray", remedy="pip install 'moecc[ray]'") from None
    return ray


class RayExecutor:
    """Points as Ray tasks on the cluster at ``address`` (default: a local Ray instance with
    ``jobs`` CPUs, all of them when None); each task failing with an exception other than a
    MoeccError is tried ``retries`` more times."""

    def __init__(self, address: str | None = None, jobs: int | None = None, retries: int = 1) -> None:
        if retries < 0:
            raise OptionError(f"--retries {retries}: give 0 or more", remedy="e.g. --retries 1")
        if jobs is not None and jobs < 1:
            raise OptionError(f"--jobs {jobs}: give at least 1 worker", remedy="e.g. --jobs 4")
        if jobs is not None and address:
            raise OptionError("--jobs does not apply to a Ray cluster (--address): its CPUs decide",
                              remedy="leave out --jobs, or --address for a local Ray instance")
        self.address = address
        self.jobs = jobs
        self.retries = retries
        self.ray = _import_ray()

    def run(self, job: SweepJob, points: Sequence[Point]) -> Iterator[tuple[int, Row]]:
        ray = self.ray
        started = not ray.is_initialized()
        if started:
            self._start_ray()
        try:
            task = ray.remote(num_cpus=1, max_retries=self.retries)(run_point)
            job_ref = ray.put(job)
            pending: dict[Any, tuple[int, int]] = {task.remote(job_ref, i, p, 0): (i, 0) for i, p in enumerate(points)}
            while pending:
                (done,), _ = ray.wait(list(pending), num_returns=1)
                index, attempt = pending.pop(done)
                try:
                    row = ray.get(done)
                except Exception as exc:  # noqa: BLE001 - the task's own exception or a lost worker
                    if attempt < self.retries:
                        pending[task.remote(job_ref, index, points[index], attempt + 1)] = (index, attempt + 1)
                        continue
                    cause = getattr(exc, "cause", None) or exc  # a RayTaskError carries the task's exception
                    row = failed_row(points[index], f"lost after {attempt + 1} attempts: {_exception_text(cause)}", None)
                yield index, row
        finally:
            if started:
                ray.shutdown()

    def _start_ray(self) -> None:
        try:
            if self.address:
                self.ray.init(address=self.address, logging_level=logging.WARNING)
            else:
                self.ray.init(num_cpus=self.jobs, include_dashboard=False, logging_level=logging.WARNING)
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ... for the same thing
            where = f"the Ray cluster at --address {self.address}" if self.address else "a local Ray instance"
            raise OptionError(f"cannot start or reach {where}: {type(exc).__name__}: {exc}",
                              remedy="check the address and that the cluster is up (ray status)" if self.address
                              else "check that Ray runs on this machine (ray start --head)") from None


def make_executor(name: str, *, jobs: int | None = None, address: str | None = None,
                  retries: int | None = None) -> LocalExecutor | RayExecutor:
    """The executor ``--executor NAME`` names, with its options (each given only where it applies)."""
    if name == "local":
        if address is not None:
            raise OptionError("--address applies to --executor ray", remedy="add --executor ray, or leave out --address")
        if retries is not None:
            raise OptionError("--retries applies to --executor ray (the local executor does not retry)",
                              remedy="leave out --retries")
        return LocalExecutor(jobs)
    if name == "ray":
        return RayExecutor(address=address, jobs=jobs, retries=1 if retries is None else retries)
    raise OptionError(f"--executor {name}: unknown executor", remedy=f"choose {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "FAULT_ENV", "LocalExecutor", "RayExecutor", "make_executor", "run_point"]
