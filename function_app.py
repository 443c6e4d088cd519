"""Azure Functions triggers (Python v2 model). Each parses its input and delegates to ``shared``."""

import json

import azure.functions as func

from shared import telemetry, triggers
from shared.events import envelope_from_function_event

# The worker exports logs (Azure Monitor, configured by the worker itself): keep SDK request logging out of it.
telemetry.quiet_azure_loggers()
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
    status_code, body = triggers.rotate(req.get_body())
    return func.HttpResponse(json.dumps(body), status_code=status_code, mimetype="application/json")


@app.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status(req: func.HttpRequest) -> func.HttpResponse:
    status_code, body = triggers.status()
    return func.HttpResponse(json.dumps(body), status_code=status_code, mimetype="application/json")
