"""Azure Functions triggers (Python v2 model). Each parses its input and delegates to ``shared``."""

import json
import os
from pathlib import Path

import azure.functions as func

from shared import logsetup, triggers
from shared.events import envelope_from_function_event

# The worker exports logs (Azure Monitor, configured by the worker itself): keep SDK request logging out of it.
logsetup.quiet_azure_loggers()
app = func.FunctionApp()


@app.event_grid_trigger(arg_name="event")
def on_key_event(event: func.EventGridEvent) -> None:
    """Key Vault KeyNewVersionCreated / KeyNearExpiry / KeyExpired; anything else is acknowledged."""
    triggers.key_event(envelope_from_function_event(event))


@app.timer_trigger(arg_name="timer", schedule="%ROTATION_SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    triggers.sweep()


@app.route(route="rotate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def rotate(req: func.HttpRequest) -> func.HttpResponse:
    answer = triggers.rotate(req.get_body())
    return func.HttpResponse(json.dumps(answer.body), status_code=answer.status, mimetype="application/json")


@app.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status(req: func.HttpRequest) -> func.HttpResponse:
    answer = triggers.status()
    return func.HttpResponse(json.dumps(answer.body), status_code=answer.status, mimetype="application/json")


@app.route(route="doctor", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def doctor(req: func.HttpRequest) -> func.HttpResponse:
    """The deployment checked end to end, as the app's own identity and from its own network; reads only."""
    answer = triggers.doctor()
    return func.HttpResponse(json.dumps(answer.body), status_code=answer.status, mimetype="application/json")


# Opt-in fan-out (ROTATION_QUEUE_NAME): registered only when set, since the host cannot start a queue
# trigger whose queue name resolves to nothing; unset, events and sweeps apply in-process.
if os.environ.get("ROTATION_QUEUE_NAME", "").strip():
    from shared.queue_messages import max_dequeue_count

    MAX_DEQUEUE = max_dequeue_count(Path(__file__).with_name("host.json"))

    @app.queue_trigger(arg_name="msg", queue_name="%ROTATION_QUEUE_NAME%", connection="AzureWebJobsStorage")
    def apply_rotation(msg: func.QueueMessage) -> None:
        """One registry: re-read, apply, verify; transient failures retry until the last delivery fails it."""
        triggers.apply_rotation(msg.get_body(), msg.dequeue_count or 1, MAX_DEQUEUE)
