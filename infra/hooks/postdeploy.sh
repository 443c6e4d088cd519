#!/bin/sh
# azd postdeploy hook: create the Event Grid subscriptions to on_key_event now that the function exists
# (an AzureFunction endpoint is validated against the deployed function: Azure/bicep#11656).
# Then record CREATE_EVENT_SUBSCRIPTIONS=true, so every later `azd provision` keeps them in main.bicep.
# Idempotent: re-running it redeploys the same subscriptions.
# Last, it prints doctor's report from the deployed app (GET /api/doctor); that never fails `azd up`.
set -eu

# The same checks from this machine, as the deployer (its network and identity, not the app's).
print_local_doctor() {
  echo "postdeploy: run the same checks from this machine (as you, from your network) with:"
  echo "  EVENTGRID_SYSTEM_TOPIC_IDS='${EVENTGRID_SYSTEM_TOPIC_IDS:-}' python -m shared doctor --app ${AZURE_FUNCTION_APP_NAME}"
  echo "  (with the ROTATION_* settings you gave azd exported, and after az login); see README, \"doctor\"."
}

# The credential GET /api/doctor takes, as a header line: an Entra ID token for the app's registration (entra mode,
# the default; the deployer needs the Rotation.Read app role), or the function key (functionkey mode). Empty: none.
doctor_credential() {
  if [ "${ROTATION_HTTP_AUTH:-entra}" = "functionkey" ]; then
    key=$(az functionapp keys list --name "${AZURE_FUNCTION_APP_NAME}" --resource-group "${AZURE_RESOURCE_GROUP}" \
      --query functionKeys.default --output tsv 2>/dev/null) || key=""
    [ -z "$key" ] || echo "x-functions-key: ${key}"
  elif [ -n "${ROTATION_AUTH_CLIENT_ID:-}${ROTATION_AUTH_APP_ID_URI:-}" ]; then
    audience="${ROTATION_AUTH_APP_ID_URI:-api://${ROTATION_AUTH_CLIENT_ID:-}}"
    token=$(az account get-access-token --resource "$audience" --query accessToken --output tsv 2>/dev/null) || token=""
    [ -z "$token" ] || echo "Authorization: Bearer ${token}"
  fi
}

# doctor's report, as the app's own identity and from its own network. Never fails the deployment.
run_doctor() {
  if ! command -v az >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
    echo "postdeploy: cannot call GET /api/doctor yet: it needs the Azure CLI (for a token or the key) and curl."
    print_local_doctor
    return 0
  fi
  host=$(az functionapp show --name "${AZURE_FUNCTION_APP_NAME}" --resource-group "${AZURE_RESOURCE_GROUP}" \
    --query defaultHostName --output tsv 2>/dev/null) || host=""
  headers=$(mktemp)  # the credential goes to curl in a file (mode 600), never on its command line
  chmod 600 "$headers"
  doctor_credential > "$headers"
  if [ -z "$host" ] || [ ! -s "$headers" ]; then
    echo "postdeploy: cannot call GET /api/doctor yet: your identity may not read the app's host name, or get a token"
    echo "  for the app (ROTATION_AUTH_CLIENT_ID, and the Rotation.Read app role) or its function key."
    rm -f "$headers"
    print_local_doctor
    return 0
  fi
  report=$(mktemp)
  status=$(curl --silent --max-time 180 --output "$report" --write-out '%{http_code}' \
    --header "@${headers}" "https://${host}/api/doctor") || status="000"
  rm -f "$headers"
  if [ "$status" = "200" ]; then
    echo "postdeploy: doctor, run by the deployed app (GET /api/doctor):"
    python3 "$(dirname "$0")/print_doctor.py" "$report" 2>/dev/null || cat "$report"
    echo
  else
    echo "postdeploy: cannot call GET /api/doctor yet (HTTP ${status}; the app may still be starting; 401/403: see"
    echo "  docs/deploy.md, \"Who may call the operator endpoints\")."
    print_local_doctor
  fi
  rm -f "$report"
  return 0
}

if [ -z "${EVENTGRID_SYSTEM_TOPIC_IDS:-}" ]; then
  echo "postdeploy: no Key Vault to watch (ROTATION_KEY_VAULT_IDS is empty); the hourly sweep still runs."
  run_doctor
  exit 0
fi

if [ "${CREATE_EVENT_SUBSCRIPTIONS:-false}" = "true" ]; then
  echo "postdeploy: Event Grid subscriptions are part of main.bicep already (CREATE_EVENT_SUBSCRIPTIONS=true)."
  run_doctor
  exit 0
fi

if command -v az >/dev/null 2>&1; then
  echo "postdeploy: creating the Event Grid subscriptions to on_key_event"
  az deployment sub create \
    --name "eventgrid-subscriptions-${AZURE_ENV_NAME}" \
    --location "${AZURE_LOCATION}" \
    --subscription "${AZURE_SUBSCRIPTION_ID}" \
    --template-file "$(dirname "$0")/../eventgrid-subscriptions.bicep" \
    --parameters systemTopicIds="${EVENTGRID_SYSTEM_TOPIC_IDS}" \
                 functionAppId="${AZURE_FUNCTION_APP_ID}" \
                 deadLetterStorageAccountId="${AZURE_STORAGE_ACCOUNT_ID}" \
                 deadLetterContainerName="${EVENTGRID_DEAD_LETTER_CONTAINER}" \
    --output none
  azd env set CREATE_EVENT_SUBSCRIPTIONS true
else
  # Without the Azure CLI: the same subscriptions through main.bicep (one more provision, same resources).
  echo "postdeploy: Azure CLI not found; provisioning again with CREATE_EVENT_SUBSCRIPTIONS=true"
  azd env set CREATE_EVENT_SUBSCRIPTIONS true
  azd provision --no-prompt
fi
run_doctor
