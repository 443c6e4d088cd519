"""Azure Functions triggers (Python v2 model). Each parses its input and delegates to ``shared``."""

import json
import os
from pathlib import Path

import azure.functions as func

from shared import logsetup, triggers
from shared.events import envelope_from_function_event
from shared.settings import operator_routes_need_function_key

# The worker exports logs (Azure Monitor, configured by the worker itself): keep SDK request logging out of it.
logsetup.quiet_azure_loggers()
app = func.FunctionApp()
# ROTATION_HTTP_AUTH=entra (the default): the app checks an Entra ID token on every operator request, so the host
# asks for no function key. functionkey, or a value we cannot read: the host demands the key (and the app answers
# a bad value with a configuration error).
OPERATOR_AUTH = (func.AuthLevel.FUNCTION if operator_routes_need_function_key(os.environ)
                 else func.AuthLevel.ANONYMOUS)


@app.event_grid_trigger(arg_name="event")
def on_key_event(event: func.EventGridEvent) -> None:
    """Key Vault KeyNewVersionCreated / KeyNearExpiry / KeyExpired; anything else is acknowledged."""
    triggers.key_event(envelope_from_function_event(event))


@app.timer_trigger(arg_name="timer", schedule="%ROTATION_SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    triggers.sweep()


def _answer(status_code: int, body: dict[str, object], headers: dict[str, str]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status_code, mimetype="application/json",
                             headers={**headers, "Cache-Control": "no-store"})


# The operator routes load the token check (shared.operator_http, PyJWT) on first use, not at function indexing.
@app.route(route="rotate", methods=["POST"], auth_level=OPERATOR_AUTH)
def rotate(req: func.HttpRequest) -> func.HttpResponse:
    from shared import operator_http

    return _answer(*operator_http.rotate(req.headers, req.get_body()))


@app.route(route="status", methods=["GET"], auth_level=OPERATOR_AUTH)
def status(req: func.HttpRequest) -> func.HttpResponse:
    from shared import operator_http

    return _answer(*operator_http.status(req.headers))


@app.route(route="doctor", methods=["GET"], auth_level=OPERATOR_AUTH)
def doctor(req: func.HttpRequest) -> func.HttpResponse:
    """The deployment checked end to end, as the app's own identity and from its own network; reads only."""
    from shared import operator_http

    return _answer(*operator_http.doctor(req.headers))


# Opt-in fan-out (ROTATION_QUEUE_NAME): registered only when set, since the host cannot start a queue
# trigger whose queue name resolves to nothing; unset, events and sweeps apply in-process.
if os.environ.get("ROTATION_QUEUE_NAME", "").strip():
    from shared.queue_messages import max_dequeue_count

    MAX_DEQUEUE = max_dequeue_count(Path(__file__).with_name("host.json"))

    @app.queue_trigger(arg_name="msg", queue_name="%ROTATION_QUEUE_NAME%", connection="AzureWebJobsStorage")
    def apply_rotation(msg: func.QueueMessage) -> None:
        """One registry: re-read, apply, verify; transient failures retry until the last delivery fails it."""
        triggers.apply_rotation(msg.get_body(), msg.dequeue_count or 1, MAX_DEQUEUE)
