"""A stand-in for the Functions host's queue listener, to run the rotation queue's consumer in real processes:
``python -m emulator.queue_host --queue NAME [--listener-visibility S] [--until-empty]``, with the app's
settings and ``AzureWebJobsStorage`` (a connection string) in the environment.

What it does is what the Storage queues extension does (azure-webjobs-sdk ``QueueListener`` and
``QueueProcessor``; host.json reference, "queues"):

- fetch up to ``batchSize`` messages (default 16), taking each with a visibility timeout of 10 minutes,
  a constant of the listener, not a setting; fetch again when the messages in flight drop to
  ``newBatchThreshold`` (default ``batchSize / 2`` times the processor count);
- while the function runs, renew that visibility each time half of it has passed, so a long run keeps
  its message; a crashed instance renews nothing, so its message reappears, with ``dequeueCount`` one
  higher, once the visibility it last got runs out: 5 to 10 minutes after the crash on Azure;
- success: delete the message;
- failure: on delivery ``maxDequeueCount`` (default 5) or later, copy it to ``<queue>-poison`` and
  delete it; before that, make it visible again after host.json's ``visibilityTimeout`` (default 0), which
  is the delay before a retry after a failure, not after a crash;
- a message delivered more than ``maxDequeueCount`` times (its instances crashed) goes to the poison queue
  without running the function;
- poll an empty queue with a randomized exponential back-off up to ``maxPollingInterval`` (default 1 minute).

The function itself runs on the Python worker's thread pool (``PYTHON_THREADPOOL_THREAD_COUNT``, default
``min(32, processors + 4)``), as ``function_app.apply_rotation`` does: ``triggers.apply_rotation`` with
host.json's ``maxDequeueCount``. Every invocation and renewal is one JSON line on stdout, flushed.
Tests shorten the listener's visibility (``--listener-visibility``) so that a crash costs seconds, not minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy, QueueClient, QueueMessage

ROOT = Path(__file__).resolve().parents[1]
LISTENER_VISIBILITY_S = 600.0  # QueueListener: TimeSpan.FromMinutes(10)
MIN_POLL_S = 0.1  # QueuePollingIntervals.Minimum


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    retry_visibility_s: float = 0.0  # host.json visibilityTimeout
    max_polling_s: float = 60.0


def _seconds(value: Any, default: float) -> float:
    """host.json time spans ("00:00:30") or milliseconds (maxPollingInterval may be either)."""
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value) / 1000.0
    hours, minutes, seconds = [*str(value).split(":"), "0", "0"][:3]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def queue_options(host_json: Path, processors: int | None = None) -> QueueOptions:
    """host.json's extensions.queues, with the host's documented defaults for what it leaves out."""
    queues = json.loads(host_json.read_text()).get("extensions", {}).get("queues", {})
    batch = int(queues.get("batchSize", 16))
    threshold = int(queues.get("newBatchThreshold", batch // 2 * (processors or os.cpu_count() or 1)))
    return QueueOptions(batch, threshold, int(queues.get("maxDequeueCount", 5)),
                        _seconds(queues.get("visibilityTimeout"), 0.0),
                        _seconds(queues.get("maxPollingInterval"), 60.0))


def _emit(**record: Any) -> None:
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


class Inflight:
    """Messages taken and not yet settled, with their latest pop receipt (each renewal changes it)."""

    def __init__(self, queue: QueueClient, visibility_s: float) -> None:
        self.queue, self.visibility_s = queue, visibility_s
        self.lock = threading.Lock()
        self.receipts: dict[str, tuple[str, float]] = {}  # id -> (pop receipt, renew at)
        self.stopped = threading.Event()

    def add(self, message: QueueMessage) -> None:
        with self.lock:
            self.receipts[message.id] = (str(message.pop_receipt), time.monotonic() + self.visibility_s / 2)

    def settle(self, message_id: str) -> str:
        with self.lock:
            return self.receipts.pop(message_id)[0]

    def count(self) -> int:
        with self.lock:
            return len(self.receipts)

    def renew_forever(self) -> None:
        """Renew each message's visibility when half of it has passed (the listener's timer)."""
        while not self.stopped.wait(min(1.0, self.visibility_s / 8)):
            now = time.monotonic()
            with self.lock:
                due = [(i, r) for i, (r, at) in self.receipts.items() if at <= now]
                for message_id, receipt in due:
                    try:
                        updated = self.queue.update_message(message_id, receipt, visibility_timeout=int(
                            max(1, self.visibility_s)))
                    except ResourceNotFoundError:
                        continue
                    self.receipts[message_id] = (str(updated.pop_receipt), now + self.visibility_s / 2)
                    _emit(event="renewed", id=message_id, next_visible_on=updated.next_visible_on)


class QueueHost:
    def __init__(self, connection: str, queue_name: str, options: QueueOptions, visibility_s: float,
                 threads: int, max_dequeue: int) -> None:
        self.queue = QueueClient.from_connection_string(
            connection, queue_name, message_decode_policy=BinaryBase64DecodePolicy())
        self.poison = QueueClient.from_connection_string(
            connection, f"{queue_name}-poison", message_encode_policy=BinaryBase64EncodePolicy())
        self.options, self.max_dequeue = options, max_dequeue
        self.inflight = Inflight(self.queue, visibility_s)
        self.functions = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="python-worker")
        self.invocations = 0
        self.seen_work = False

    def run(self, until_empty: bool) -> None:
        renewer = threading.Thread(target=self.inflight.renew_forever, daemon=True)
        renewer.start()
        delay = MIN_POLL_S
        try:
            while True:
                if self.inflight.count() > self.options.new_batch_threshold:
                    time.sleep(0.02)
                    continue
                batch = list(self.queue.receive_messages(messages_per_page=self.options.batch_size,
                                                         max_messages=self.options.batch_size,
                                                         visibility_timeout=int(self.inflight.visibility_s)))
                self.seen_work = self.seen_work or bool(batch)
                for message in batch:
                    self.inflight.add(message)
                    self.functions.submit(self._process, message)
                if batch:
                    delay = MIN_POLL_S
                    continue
                if until_empty and self.inflight.count() == 0 and self._drained():
                    return
                time.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, self.options.max_polling_s)
        finally:
            self.functions.shutdown(wait=True)
            self.inflight.stopped.set()

    def _drained(self) -> bool:
        """The queue, having held messages since this host started, holds none (taken ones included)."""
        count = int(self.queue.get_queue_properties().approximate_message_count or 0)
        self.seen_work = self.seen_work or count > 0
        return self.seen_work and count == 0

    def _process(self, message: QueueMessage) -> None:
        from shared import triggers

        count = int(message.dequeue_count or 1)
        if count > self.options.max_dequeue_count:  # crashed deliveries used up its attempts: no invocation
            self._to_poison(message, count, "dequeue count over maxDequeueCount before invocation")
            return
        record: dict[str, Any] = {"event": "invocation", "id": message.id, "dequeueCount": count,
                                  "startedAt": time.time()}
        try:
            report = triggers.apply_rotation(message.content, count, self.max_dequeue)
            record["outcomes"] = report.to_dict()["outcomes"] if report is not None else []
            succeeded = True
        except Exception as exc:  # the host records the failure and leaves the message for a retry
            record["raised"] = f"{type(exc).__name__}: {exc}"
            succeeded = False
        self.invocations += 1
        record["doneAt"] = time.time()
        _emit(**record)
        receipt = self.inflight.settle(message.id)
        if succeeded:
            self.queue.delete_message(message.id, receipt)
        elif count >= self.options.max_dequeue_count:
            self._to_poison(message, count, record["raised"], receipt)
        else:
            self.queue.update_message(message.id, receipt, visibility_timeout=int(self.options.retry_visibility_s))

    def _to_poison(self, message: QueueMessage, count: int, why: str, receipt: str | None = None) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.poison.create_queue()
        self.poison.send_message(message.content)
        self.queue.delete_message(message.id, receipt or self.inflight.settle(message.id))
        _emit(event="poisoned", id=message.id, dequeueCount=count, why=why)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.queue_host")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--host-json", default=str(ROOT / "host.json"))
    parser.add_argument("--listener-visibility", type=float, default=LISTENER_VISIBILITY_S)
    parser.add_argument("--until-empty", action="store_true",
                        help="exit once the queue, having held messages, holds none")
    args = parser.parse_args(argv)
    from shared.queue_messages import max_dequeue_count

    host_json = Path(args.host_json)
    options = queue_options(host_json)
    threads = int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT") or min(32, (os.cpu_count() or 1) + 4))
    connection = os.environ["AzureWebJobsStorage"]  # noqa: SIM112 - the host's own setting name
    host = QueueHost(connection, args.queue, options, args.listener_visibility, threads, max_dequeue_count(host_json))
    started = time.time()
    host.run(args.until_empty)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _emit(event="exit", invocations=host.invocations, startedAt=started, peakRssMb=usage.ru_maxrss / 1024,
          cpuS=usage.ru_utime + usage.ru_stime)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
