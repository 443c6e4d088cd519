"""Azure Resource Manager stand-in: authentication, routing, and the shapes ARM answers with.

Resource handlers live in arm_resources.py (subscriptions, vaults, identities, role assignments)
and arm_registries.py (Container Registry). Paths are matched case-insensitively, as ARM does.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from emulator import arm_auth, arm_eventgrid, arm_graph, arm_registries, arm_resources
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
    (re.compile(r"^(.*)/providers/microsoft\.authorization/roledefinitions/([^/]+)/?$", _I), "role_definition"),
    (re.compile(r"^/providers/microsoft\.resourcegraph/resources/?$", _I), "graph"),
    (re.compile(r"^(.*)/providers/microsoft\.authorization/permissions/?$", _I), "permissions"),
    (re.compile(rf"^/subscriptions/{_SEG}/providers/{_SEG}/register/?$", _I), "register"),
    (re.compile(rf"^/subscriptions/{_SEG}/providers/{_SEG}/?$", _I), "provider"),
    (re.compile(rf"^/subscriptions/{_SEG}/providers/microsoft\.keyvault/locations/{_SEG}/deletedvaults/{_SEG}"
                r"(/purge)?/?$", _I), "deleted_vault"),
    (re.compile(rf"^/subscriptions/{_SEG}/providers/microsoft\.keyvault/deletedvaults/?$", _I), "deleted_vaults"),
    (re.compile(rf"^/subscriptions/{_SEG}/providers/microsoft\.eventgrid/systemtopics/?$", _I), "topics_sub"),
    (re.compile(rf"^{_RG}/microsoft\.eventgrid/systemtopics/?$", _I), "topics_rg"),
    (re.compile(rf"^{_RG}/microsoft\.eventgrid/systemtopics/{_SEG}/?$", _I), "topic"),
    (re.compile(rf"^{_RG}/microsoft\.eventgrid/systemtopics/{_SEG}/eventsubscriptions/?$", _I), "egsubs"),
    (re.compile(rf"^{_RG}/microsoft\.eventgrid/systemtopics/{_SEG}/eventsubscriptions/{_SEG}/?$", _I), "egsub"),
    (re.compile(rf"^{_RG}/microsoft\.eventgrid/systemtopics/{_SEG}/eventsubscriptions/{_SEG}/"
                r"(getfullurl|getdeliveryattributes)/?$", _I), "egsub_action"),
]
# group 1 is a scope, not a subscription
_SCOPED_ROUTES = ("role_assignment", "role_assignments", "permissions", "role_definition")
MANAGEMENT_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net",
                        "https://management.chinacloudapi.cn", "https://management.core.chinacloudapi.cn",
                        "https://management.usgovcloudapi.net", "https://management.core.usgovcloudapi.net")


def _authenticate(world: World, req: Request) -> Response | None:
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
    return arm_auth.expired(world, req) or arm_auth.claims_challenged(world, req)


def _subscription_checks(world: World, req: Request, route: str, sub: str) -> Response | None:
    """What ARM's front door checks for a subscription-scoped call, in order: the subscription exists, the
    token is from its tenant, and (but for the provider endpoints) the namespace is registered in it."""
    if sub.lower() not in world.subscriptions:
        return error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.",
                     {"x-ms-failure-cause": "gateway"})
    return arm_auth.wrong_tenant(world, req, sub.lower()) or (
        None if route in ("register", "provider") else arm_auth.unregistered(world, req, sub.lower()))


def handle(world: World, req: Request, lro_failed: str | None = None) -> Response:
    """``lro_failed``: a registry update's operation is to fail, leaving this provisioningState."""
    failed = _authenticate(world, req)
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
        if route in _SCOPED_ROUTES:
            sub = groups[0].split("/")[2] if groups[0].lower().startswith("/subscriptions/") else None
        else:
            sub = groups[0] if groups and route != "subscriptions" else None
        if sub is not None:
            refused = _subscription_checks(world, req, route, sub)
            if refused:
                return refused
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


def _role_definition(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_resources.role_definition(world, req, g[0], g[1])


def _graph(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("POST",)) or arm_graph.query(world, req)


def _permissions(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_resources.permissions(world, req, g[0])


def _register(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return arm_auth.register(world, req, str(sub), g[1])


def _provider(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return arm_auth.provider(world, req, str(sub), g[1])


def _deleted_vault(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    purge = bool(g[3])
    return (_method_check(req, ("POST",) if purge else ("GET",))
            or arm_resources.deleted_vault(world, req, str(sub), g[1], g[2], purge))


def _deleted_vaults(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_resources.list_deleted_vaults(world, req, str(sub))


def _topics_sub(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_eventgrid.list_topics(world, req, str(sub), None)


def _topics_rg(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_eventgrid.list_topics(world, req, str(sub), g[1])


def _topic(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return arm_eventgrid.system_topic(world, req, str(sub), g[1], g[2])


def _egsubs(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return _method_check(req, ("GET",)) or arm_eventgrid.list_subscriptions(world, req, str(sub), g[1], g[2])


def _egsub(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return arm_eventgrid.event_subscription(world, req, str(sub), g[1], g[2], g[3])


def _egsub_action(world: World, req: Request, sub: str | None, g: tuple[str, ...], lro: str | None) -> Response:
    return arm_eventgrid.subscription_action(world, req, str(sub), g[1], g[2], g[3], g[4])


_ROUTE_HANDLERS: dict[str, Handler] = {
    "subscriptions": _subs, "subscription": _sub, "regs_sub": _regs_sub, "regs_rg": _regs_rg,
    "registry": _registry, "operation": _operation, "vault": _vault, "vaults_sub": _vaults_sub,
    "identity": _identity,
    "role_assignment": _role_assignment, "role_assignments": _role_assignments, "graph": _graph,
    "role_definition": _role_definition,
    "permissions": _permissions, "register": _register, "provider": _provider, "deleted_vault": _deleted_vault,
    "deleted_vaults": _deleted_vaults, "topics_sub": _topics_sub, "topics_rg": _topics_rg, "topic": _topic,
    "egsubs": _egsubs, "egsub": _egsub, "egsub_action": _egsub_action,
}
