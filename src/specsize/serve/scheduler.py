"""The engine's thread: a bounded queue of waiting requests, admitted into free slots between rounds, and the
rounds themselves (engine/batch.py). The HTTP event loop never runs a forward: it submits a Job and awaits
the events the engine thread posts back to it (loop.call_soon_threadsafe).

Events on a job's queue: ("tokens", text_delta) as text grows, then ("done", None) or ("error", message).
A client that goes away sets Sequence.cancelled; the engine frees the slot at the next round. A failure while
admitting or sampling one request fails that request only; a failure of a whole batched forward fails the rows
in it (their share cannot be told apart) and the server goes on.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from specsize.engine.batch import BatchEngine, Sequence
from specsize.engine.generate import SpecStats
from specsize.engine.run import _first_stop
from specsize.engine.tokenizer import Tokenizer
from specsize.serve.metrics import Metrics


class QueueFull(Exception):
    pass


@dataclass
class Job:
    """One HTTP request's sequence and its way back to the event loop."""

    seq: Sequence
    stops: tuple[str, ...]
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue
    arrival: float = field(default_factory=time.perf_counter)
    text: str = ""  # the visible text so far (stop strings cut)
    last_emit: float | None = None
    seen: SpecStats = field(default_factory=SpecStats)  # the counters already added to /metrics

    def post(self, kind: str, value=None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is closed (the server is gone): nobody is listening
            self.seq.cancelled = True


class Scheduler:
    def __init__(self, engine: BatchEngine, tokenizer: Tokenizer, metrics: Metrics, max_waiting: int = 64):
        self.engine, self.tok, self.metrics, self.max_waiting = engine, tokenizer, metrics, max_waiting
        self.waiting: deque[Job] = deque()
        self.jobs: dict[int, Job] = {}  # id(seq) -> job, while in a slot
        self.cv = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="specsize-engine", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finish the requests in flight and the waiting ones, then end the thread."""
        with self.cv:
            self.stopping = True
            self.cv.notify()
        self.thread.join(timeout)

    def submit(self, job: Job) -> None:
        with self.cv:
            if len(self.waiting) >= self.max_waiting:
                raise QueueFull(f"the queue is full ({self.max_waiting} requests waiting); retry later")
            job.seq.on_tokens = lambda new, job=job: self._on_tokens(job, new)
            self.waiting.append(job)
            self.metrics.set_load(len(self.engine.active), len(self.waiting))
            self.cv.notify()

    # --- engine thread -------------------------------------------------------------------------------------

    def _on_tokens(self, job: Job, new: list[int]) -> bool:
        """Each round's new tokens of one row: TTFT and inter-token latency, the text so far, stop strings."""
        now = time.perf_counter()
        if job.last_emit is None:
            self.metrics.ttft.labels(**self.metrics.labels).observe(now - job.arrival)
        else:
            self.metrics.itl.labels(**self.metrics.labels).observe(now - job.last_emit)
        job.last_emit = now
        return self._flush(job, final=False)

    def _flush(self, job: Job, final: bool) -> bool:
        """Post the text that is sure to stay: cut at the first stop string; until the end, hold back what could
        be the start of one (its length - 1 characters) and a trailing partial multi-byte character. Returns
        whether a stop string was found."""
        full = self.tok.decode(job.seq.out)
        hit = _first_stop(full, job.stops)
        visible = full[:hit] if hit is not None else full
        if hit is None and not final:
            hold = max((len(s) for s in job.stops), default=1) - 1
            visible = visible[: len(visible) - hold] if hold else visible
            visible = visible.rstrip("\ufffd")
        if len(visible) > len(job.text):
            job.post("tokens", visible[len(job.text) :])
            job.text = visible
        return hit is not None

    def _admit(self) -> list[Job]:
        with self.cv:
            while not self.waiting and not self.engine.active and not self.stopping:
                self.cv.wait()
            admitted = []
            while self.waiting and len(admitted) < self.engine.free_slots:
                job = self.waiting.popleft()
                if job.seq.cancelled:
                    job.seq.finish_reason = "abort"
                    continue
                admitted.append(job)
            return admitted

    def _loop(self) -> None:
        while True:
            for job in self._admit():
                try:
                    self.engine.add(job.seq)
                    self.metrics.prompt_tokens.labels(**self.metrics.labels).inc(len(job.seq.prompt))
                    self.jobs[id(job.seq)] = job
                except Exception as e:  # this request only (its prompt did not fit, its sampling failed...)
                    job.post("error", f"{type(e).__name__}: {e}")
            try:
                gone = self.engine.step()
            except Exception as e:  # a batched forward failed: the rows in it fail, the server goes on
                gone = []
                for i, seq in enumerate(self.engine.rows):
                    if seq is not None:
                        seq.finish_reason, seq.error = "error", f"{type(e).__name__}: {e}"
                        self.engine.rows[i] = None
                        gone.append(seq)
            for seq in [*self.engine.active, *gone]:
                job = self.jobs.get(id(seq))
                if job is not None:
                    self.metrics.observe_stats(seq.stats, job.seen)
                    job.seen = copy.deepcopy(seq.stats)
            for seq in gone:
                job = self.jobs.pop(id(seq), None)
                if job is not None:
                    if seq.finish_reason != "error":
                        self._flush(job, final=True)
                    job.post("error" if seq.finish_reason == "error" else "done", seq.error)
            with self.cv:
                self.metrics.set_load(len(self.engine.active), len(self.waiting))
                if self.stopping and not self.waiting and not self.engine.active:
                    return
