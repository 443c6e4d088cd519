"""Azure Resource Manager stand-in: authentication, routing, and the shapes ARM answers with.

Resource handlers live in arm_resources.py (subscriptions, vaults, identities, role assignments)
and arm_registries.py (Container Registry). Paths are matched case-insensitively, as ARM does.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from emulator import arm_graph, arm_registries, arm_resources
from emulator.arm_common import error
from emulator.world import Request, Response, World

_SEG = r"([^/]+)"
_RG = rf"/subscriptions/{_SEG}/resourcegroups/{_SEG}/providers"
_I = re.IGNORECASE
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/subscriptions/?$", _I), "subscriptions"),
    (re.compile(rf"^/subscriptions/{_SEG}/?$", _I), "subscription"),
    (re.compile(rf"^/subscriptions/{_SEG}/providers/microsoft\.containerregistry/registries/?$", _I), "regs_sub"),
    (re.compile(rf"^{_RG}/microsoft\.containerregistry/registries/?$", _I), "regs_rg"),
    (re.compile(rf"^{_RG}/microsoft\.containerregistry/registries/{_SEG}/?$", _I), "registry"),
    (re.compile(rf"^{_RG}/microsoft\.containerregistry/registries/{_SEG}/operationstatuses/{_SEG}/?$", _I),
     "operation"),
    (re.compile(rf"^{_RG}/microsoft\.keyvault/(vaults|managedhsms)/{_SEG}/?$", _I), "vault"),
    (re.compile(rf"^/subscriptions/{_SEG}/providers/microsoft\.keyvault/vaults/?$", _I), "vaults_sub"),
    (re.compile(rf"^{_RG}/microsoft\.managedidentity/userassignedidentities/{_SEG}/?$", _I), "identity"),
    (re.compile(r"^(.*)/providers/microsoft\.authorization/roleassignments/([^/]+)/?$", _I), "role_assignment"),
    (re.compile(r"^(.*)/providers/microsoft\.authorization/roleassignments/?$", _I), "role_assignments"),
    (re.compile(r"^/providers/microsoft\.resourcegraph/resources/?$", _I), "graph"),
]
MANAGEMENT_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net",
                        "https://management.chinacloudapi.cn", "https://management.core.chinacloudapi.cn",
                        "https://management.usgovcloudapi.net", "https://management.core.usgovcloudapi.net")


def _authenticate(req: Request) -> Response | None:
    challenge = {"WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
                                     'error_description="The authentication failed because of missing '
                                     "'Authorization' header.\""}
    if not req.headers.get("Authorization"):
        return error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                     challenge)
    if req.principal_id is None:
        return error(401, "InvalidAuthenticationToken", "The access token is invalid.")
    if (req.token_audience or "").rstrip("/") not in MANAGEMENT_AUDIENCES:
        return error(401, "InvalidAuthenticationTokenAudience",
                     f"The access token has been obtained for wrong audience or resource '{req.token_audience}'. "
                     "It should exactly match with one of the allowed audiences "
                     "'https://management.core.windows.net/','https://management.core.windows.net',"
                     "'https://management.azure.com/','https://management.azure.com'.")
    return None


def handle(world: World, req: Request, lro_failed: str | None = None) -> Response:
    """``lro_failed``: a registry update's operation is to fail, leaving this provisioningState."""
    failed = _authenticate(req)
    if failed:
        return failed
    if not req.query.get("api-version"):
        return error(400, "MissingApiVersionParameter",
                     "The api-version query parameter (?api-version=) is required for all requests.")
    for pattern, route in _ROUTES:
        m = pattern.match(req.path)
        if m is None:
            continue
        groups = m.groups()
        if route.startswith("role_assignment"):
            sub = groups[0].split("/")[2] if groups[0].lower().startswith("/subscriptions/") else None
        else:
            sub = groups[0] if groups and route != "subscriptions" else None
        if sub is not None and sub.lower() not in world.subscriptions:
            return error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if sub is not None:
            sub = sub.lower()
        return _ROUTE_HANDLERS[route](world, req, sub, groups, lro_failed)
    return error(404, "InvalidResourceType", f"The resource type could not be found for path '{req.path}'.")


def _method_check(req: Request, allowed: tuple[str, ...]) -> Response | None:
    if req.method in allowed:
        return None
    return error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")


Handler = Callable[[World, Request, "str | None", tuple[str, ...], "str | None"], Response]


def _subs(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_resources.list_subscriptions(world, req)


def _sub(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_resources.get_subscription(world, req, str(sub))


def _regs_sub(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_registries.list_registries(world, req, str(sub), None)


def _regs_rg(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_registries.list_registries(world, req, str(sub), g[1])


def _registry(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return arm_registries.registry(world, req, str(sub), g[1], g[2], lro)


def _operation(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return (_method_check(req, ("GET",))
            or arm_registries.operation_status(world, req, str(sub), g[1], g[2], g[3]))


def _vault(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return arm_resources.vault(world, req, str(sub), g[1], g[2], g[3])


def _vaults_sub(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_resources.list_vaults(world, req, str(sub))


def _identity(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return arm_resources.user_identity(world, req, str(sub), g[1], g[2])


def _role_assignment(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return arm_resources.role_assignment(world, req, g[0], g[1])


def _role_assignments(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_resources.list_role_assignments(world, req, g[0])


def _graph(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("POST",)) or arm_graph.query(world, req)


_ROUTE_HANDLERS: dict[str, Handler] = {
    "subscriptions": _subs, "subscription": _sub, "regs_sub": _regs_sub, "regs_rg": _regs_rg,
    "registry": _registry, "operation": _operation, "vault": _vault, "vaults_sub": _vaults_sub,
    "identity": _identity,
    "role_assignment": _role_assignment, "role_assignments": _role_assignments, "graph": _graph,
}
