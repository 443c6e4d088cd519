"""Apply a plan through the opt-in rotation queue (ROTATION_QUEUE_NAME): one message per registry, each applied
by ``apply_rotation`` on whichever instance the Functions host gives it to.

Only runs that may fan out do (events and sweeps: ``RunRequest.fan_out``); manual runs and the queue's own
messages apply here. Canaries always move here first, so that a failed one still holds the others back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import RotationError
from shared.outcomes import Outcome
from shared.planner import Decision
from shared.ports import DispatchPort
from shared.queue_messages import RotationMessage
from shared.reasons import Reason, Result
from shared.rollout import Applied, Jobs, Rollout, RunContext, outcome_of, staged


@dataclass(frozen=True)
class QueueDispatch:
    queue: DispatchPort
    in_process: Rollout

    def apply(self, decisions: Sequence[Decision], run: RunContext) -> Applied:
        if not run.request.fan_out:
            return self.in_process.apply(decisions, run)
        return staged(decisions, run, self.in_process.concurrently, self._enqueue)

    def _enqueue(self, jobs: Jobs, run: RunContext) -> dict[int, Outcome]:
        request = run.request
        messages = [RotationMessage(d.registry.id, d.to_version, request.trigger, request.correlation_id,
                                    request.dry_run) for d in jobs.values()]
        try:
            self.queue.enqueue(messages)
        except RotationError as exc:  # transient: Event Grid redelivers, the next sweep tries again
            return {i: outcome_of(d, Result.FAILED, request, reason=Reason.QUEUE_UNAVAILABLE, transient=True,
                                  detail=exc.message) for i, d in jobs.items()}
        return {i: outcome_of(d, Result.PLANNED, request, reason=Reason.QUEUED) for i, d in jobs.items()}
