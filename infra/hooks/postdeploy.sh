#!/bin/sh
# azd postdeploy hook: create the Event Grid subscriptions to on_key_event now that the function exists
# (an AzureFunction endpoint is validated against the deployed function: Azure/bicep#11656).
# Then record CREATE_EVENT_SUBSCRIPTIONS=true, so every later `azd provision` keeps them in main.bicep.
# Idempotent: re-running it redeploys the same subscriptions.
set -eu

if [ -z "${EVENTGRID_SYSTEM_TOPIC_IDS:-}" ]; then
  echo "postdeploy: no Key Vault to watch (ROTATION_KEY_VAULT_IDS is empty); the hourly sweep still runs."
  exit 0
fi

if [ "${CREATE_EVENT_SUBSCRIPTIONS:-false}" = "true" ]; then
  echo "postdeploy: Event Grid subscriptions are part of main.bicep already (CREATE_EVENT_SUBSCRIPTIONS=true)."
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
