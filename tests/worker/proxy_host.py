"""Plays the Functions host and its Python proxy worker in front of azure-functions-runtime (the real Python 3.13+
worker library), in the worker test's own 3.13 environment (.venv-worker). Run by tests/worker/test_worker.py.

The proxy worker (Azure/azure-functions-python-worker, ``proxy_worker/dispatcher.py``) hands each gRPC
``StreamingMessage`` from the host to the library's async handlers in ``azure_functions_runtime/handle_event.py``
as ``WorkerRequest(name, request=<StreamingMessage>, properties={"protos": <its FunctionRpc module>, "host": ...})``.
This does the same with the host's generated FunctionRpc classes (tests/worker/protos.py says where they come from)
and the protobuf runtime, and reads the requests the host would send from stdin: one JSON command a line,
messages in protobuf's JSON mapping. It writes one JSON answer a line on the stdout it was started with; everything
else (the app's and the worker's logs and prints) goes to stderr.

Usage: proxy_host.py APP_DIR PROTOS_DIR REPO_DIR
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

ANSWERS = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
sys.stdout = sys.stderr  # prints from the app or the worker never reach the answer stream

APP_DIR, PROTOS_DIR, REPO_DIR = sys.argv[1:4]
sys.path[:0] = [APP_DIR, PROTOS_DIR, REPO_DIR]  # as the host starts the worker: the app first, its imports after

import functionrpc_protos as protos  # noqa: E402  (the host's generated classes, unpacked by protos.py)
from azure_functions_runtime import handle_event  # noqa: E402
from google.protobuf import json_format  # noqa: E402


@dataclass
class WorkerRequest:  # the proxy worker's own request wrapper, field for field
    name: str
    request: Any
    properties: dict[str, Any] | None = None


@dataclass
class Host:
    function_ids: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def message(self, **content: Any) -> Any:
        return protos.StreamingMessage(request_id=str(uuid.uuid4()), **content)

    async def init(self, _: dict) -> dict:
        request = self.message(worker_init_request=protos.WorkerInitRequest(
            host_version="4.1044.0", function_app_directory=APP_DIR, worker_directory=APP_DIR,
            capabilities={"FunctionDataCache": "false"}))
        response = await handle_event.worker_init_request(
            WorkerRequest("WorkerInitRequest", request, {"protos": protos, "host": "127.0.0.1"}))
        return json_format.MessageToDict(response)

    async def metadata_request(self, _: dict) -> dict:
        request = self.message(functions_metadata_request=protos.FunctionsMetadataRequest(
            function_app_directory=APP_DIR))
        response = await handle_event.functions_metadata_request(WorkerRequest("WorkerMetadataRequest", request))
        for item in response.function_metadata_results:
            self.function_ids[item.name] = item.function_id
            self.metadata[item.name] = item
        return json_format.MessageToDict(response)

    async def load(self, _: dict) -> dict:
        answers = {}
        for name, function_id in self.function_ids.items():
            request = self.message(function_load_request=protos.FunctionLoadRequest(
                function_id=function_id, metadata=self.metadata[name]))
            response = await handle_event.function_load_request(WorkerRequest("FunctionLoadRequest", request))
            answers[name] = json_format.MessageToDict(response)
        return answers

    async def invoke(self, command: dict) -> dict:
        invocation = protos.InvocationRequest(invocation_id=str(uuid.uuid4()),
                                              function_id=self.function_ids[command["function"]])
        for name, data in command["input"].items():
            invocation.input_data.append(protos.ParameterBinding(name=name, data=json_format.ParseDict(
                data, protos.TypedData())))
        for key, data in command.get("triggerMetadata", {}).items():
            invocation.trigger_metadata[key].CopyFrom(json_format.ParseDict(data, protos.TypedData()))
        request = self.message(invocation_request=invocation)
        response = await handle_event.invocation_request(WorkerRequest("FunctionInvocationRequest", request))
        return json_format.MessageToDict(response)


async def main() -> None:
    host = Host()
    handlers = {"init": host.init, "metadata": host.metadata_request, "load": host.load, "invoke": host.invoke}
    for line in sys.stdin:
        command = json.loads(line)
        ANSWERS.write(json.dumps(await handlers[command["op"]](command)) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
