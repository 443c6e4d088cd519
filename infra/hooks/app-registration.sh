#!/bin/sh
# Create or update the Entra app registration whose tokens the operator endpoints accept (docs/deploy.md, "Who may
# call the operator endpoints"). Run it once per tenant, by someone allowed to register applications:
#   ./infra/hooks/app-registration.sh [display name]
# It sets the three app roles, the application ID URI api://<client id>, a user_impersonation scope the Azure CLI
# is pre-authorized for (so `az account get-access-token --resource api://<client id>` works), v2 access tokens, and
# "assignment required" on the enterprise application, so that only people and apps given a role get a token.
# Then, inside an azd environment, it records ROTATION_AUTH_CLIENT_ID for the next `azd provision`.
# Idempotent: the role and scope ids are fixed (infra/app-registration.json); re-running updates in place.
set -eu

NAME="${1:-acr-cmk-rotation operators}"
SPEC="$(dirname "$0")/../app-registration.json"
GRAPH="https://graph.microsoft.com/v1.0"
command -v az >/dev/null 2>&1 || { echo "app-registration: the Azure CLI (az) is required" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "app-registration: python3 is required" >&2; exit 1; }

APP_ID="$(az ad app list --filter "displayName eq '${NAME}'" --query '[0].appId' --output tsv)"
if [ -z "${APP_ID}" ]; then
  APP_ID="$(az ad app create --display-name "${NAME}" --sign-in-audience AzureADMyOrg --query appId --output tsv)"
  echo "app-registration: created '${NAME}' (client id ${APP_ID})"
else
  echo "app-registration: updating '${NAME}' (client id ${APP_ID})"
fi

BODIES="$(mktemp -d)"
trap 'rm -rf "${BODIES}"' EXIT
python3 - "${SPEC}" "${APP_ID}" "${BODIES}" <<'PY'
import json, sys
spec, app_id, out = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
scope = {k: v for k, v in spec["scope"].items()}
first = {"identifierUris": [f"api://{app_id}"], "appRoles": spec["appRoles"],
         "api": {"requestedAccessTokenVersion": spec["requestedAccessTokenVersion"], "oauth2PermissionScopes": [scope]}}
second = {"api": {"preAuthorizedApplications": [{"appId": c, "delegatedPermissionIds": [scope["id"]]}
                                                for c in spec["preAuthorizedClientIds"].values()]}}
json.dump(first, open(f"{out}/app.json", "w"))
json.dump(second, open(f"{out}/preauthorized.json", "w"))
json.dump({"appRoleAssignmentRequired": True}, open(f"{out}/sp.json", "w"))
PY
# The scope must exist before a client can be pre-authorized for it: two PATCHes.
az rest --method PATCH --uri "${GRAPH}/applications(appId='${APP_ID}')" --body "@${BODIES}/app.json" \
  --headers Content-Type=application/json --output none
az rest --method PATCH --uri "${GRAPH}/applications(appId='${APP_ID}')" --body "@${BODIES}/preauthorized.json" \
  --headers Content-Type=application/json --output none
az ad sp show --id "${APP_ID}" --output none 2>/dev/null || az ad sp create --id "${APP_ID}" --output none
az rest --method PATCH --uri "${GRAPH}/servicePrincipals(appId='${APP_ID}')" --body "@${BODIES}/sp.json" \
  --headers Content-Type=application/json --output none

if command -v azd >/dev/null 2>&1 && azd env get-values >/dev/null 2>&1; then
  azd env set ROTATION_AUTH_CLIENT_ID "${APP_ID}"
  echo "app-registration: ROTATION_AUTH_CLIENT_ID=${APP_ID} recorded in the azd environment; run azd provision"
else
  echo "app-registration: set ROTATION_AUTH_CLIENT_ID=${APP_ID} before azd provision"
fi
echo "app-registration: now grant the app roles to people and apps (docs/deploy.md, \"Granting the roles\")"
