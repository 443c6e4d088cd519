"""The shared ARM buckets (arm_pacing.SharedBuckets) as blobs in the app's storage, written with ETag conditions."""

from __future__ import annotations

import contextlib
import json
import time

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from shared.adapters.arm_pacing import BucketState

CONTAINER = "arm-pacing"


class BlobBucketStore:
    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    def read(self, name: str) -> tuple[BucketState | None, str | None]:
        try:
            downloaded = self._container.download_blob(name)
            raw = downloaded.readall()
        except ResourceNotFoundError:
            return None, None
        version = str(downloaded.properties.etag)
        try:
            data = json.loads(raw)
            return BucketState(float(data["tokens"]), float(data["at"])), version
        except (ValueError, KeyError, TypeError):  # unreadable: taken as empty now, and overwritten
            return BucketState(0.0, time.time()), version

    def write(self, name: str, state: BucketState, version: str | None) -> str | None:
        body = json.dumps({"tokens": round(state.tokens, 6), "at": state.at})
        blob = self._container.get_blob_client(name)
        try:
            if version is None:
                written = blob.upload_blob(body, overwrite=False)
            else:
                written = blob.upload_blob(body, overwrite=True, etag=version,
                                           match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError):
            return None  # another instance wrote first
        except ResourceNotFoundError:  # the first instance ever: no container yet
            with contextlib.suppress(ResourceExistsError):
                self._container.create_container()
            return None
        return str(written["etag"])
