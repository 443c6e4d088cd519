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

# doctor's report, as the app's own identity and from its own network. Never fails the deployment.
run_doctor() {
  if ! command -v az >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
    echo "postdeploy: cannot call GET /api/doctor yet: it needs the Azure CLI (for the function key) and curl."
    print_local_doctor
    return 0
  fi
  host=$(az functionapp show --name "${AZURE_FUNCTION_APP_NAME}" --resource-group "${AZURE_RESOURCE_GROUP}" \
    --query defaultHostName --output tsv 2>/dev/null) || host=""
  key=$(az functionapp keys list --name "${AZURE_FUNCTION_APP_NAME}" --resource-group "${AZURE_RESOURCE_GROUP}" \
    --query functionKeys.default --output tsv 2>/dev/null) || key=""
  if [ -z "$host" ] || [ -z "$key" ]; then
    echo "postdeploy: cannot call GET /api/doctor yet: your identity may not read the app's host name or function key."
    print_local_doctor
    return 0
  fi
  report=$(mktemp)
  status=$(curl --silent --max-time 180 --output "$report" --write-out '%{http_code}' \
    --header "x-functions-key: ${key}" "https://${host}/api/doctor") || status="000"
  if [ "$status" = "200" ]; then
    echo "postdeploy: doctor, run by the deployed app (GET /api/doctor):"
    python3 "$(dirname "$0")/print_doctor.py" "$report" 2>/dev/null || cat "$report"
    echo
  else
    echo "postdeploy: cannot call GET /api/doctor yet (HTTP ${status}; the app may still be starting)."
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
