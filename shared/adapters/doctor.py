"""Doctor's reads beyond the engine's, behind one port (shared.doctor_gather.DoctorPort)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.adapters.eventgrid import EventGridAdapter
from shared.adapters.identity import IdentityAdapter
from shared.adapters.permissions import PermissionsAdapter
from shared.doctor import Identity, Permissions, Topic


@dataclass(frozen=True)
class DoctorAdapter:
    identity: IdentityAdapter
    permissions: PermissionsAdapter
    eventgrid: EventGridAdapter

    def whoami(self) -> Identity:
        return self.identity.whoami()

    def vault_permissions(self, vault_id: str) -> tuple[Permissions, ...]:
        return self.permissions.vault_permissions(vault_id)

    def system_topic(self, vault_id: str) -> Topic | None:
        return self.eventgrid.system_topic(vault_id)
