"""Unpack the Functions host's generated FunctionRpc protobuf classes for the worker test, checked file by file.

azure-functions-runtime ships no protobuf classes: the host's proxy worker passes its own generated ``FunctionRpc``
module in. One published copy is the top-level ``tests/protos/`` package of the ``azure-functions-runtime-v1`` wheel
(pinned by hash in tests/worker/protos-wheel.txt, downloaded by `make worker-env`). Installing that wheel would put a
top-level ``tests`` package next to ours, so this copies only ``tests/protos/`` out of it, as the package
``functionrpc_protos``, after checking each file against the wheel's RECORD.

Usage: python tests/worker/protos.py WHEEL_DIR DEST_DIR
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import shutil
import sys
import zipfile
from pathlib import Path

SOURCE_PREFIX = "tests/protos/"
PACKAGE = "functionrpc_protos"


def record_digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def extract(wheel: Path, dest: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        record_name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        record = {row[0]: row[1] for row in csv.reader(io.StringIO(archive.read(record_name).decode())) if row}
        names = [n for n in archive.namelist() if n.startswith(SOURCE_PREFIX) and n.endswith(".py")]
        if not any(n.endswith("FunctionRpc_pb2.py") for n in names):
            raise SystemExit(f"{wheel.name} has no {SOURCE_PREFIX}FunctionRpc_pb2.py")
        target = dest / PACKAGE
        shutil.rmtree(target, ignore_errors=True)
        for name in names:
            data = archive.read(name)
            if record.get(name) != record_digest(data):
                raise SystemExit(f"{name} in {wheel.name} does not match the wheel's RECORD")
            path = target / name.removeprefix(SOURCE_PREFIX)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return names


def main(wheel_dir: str, dest: str) -> None:
    wheels = sorted(Path(wheel_dir).glob("azure_functions_runtime_v1-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one azure_functions_runtime_v1 wheel in {wheel_dir}, found {len(wheels)}")
    names = extract(wheels[0], Path(dest))
    print(f"{len(names)} files of {SOURCE_PREFIX} from {wheels[0].name} -> {Path(dest) / PACKAGE}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
