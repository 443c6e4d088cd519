# azd postdeploy hook (Windows): see postdeploy.sh. Creates the Event Grid subscriptions to on_key_event once the
# function exists (Azure/bicep#11656), then records CREATE_EVENT_SUBSCRIPTIONS=true for later `azd provision` runs.
$ErrorActionPreference = 'Stop'

if (-not $env:EVENTGRID_SYSTEM_TOPIC_IDS) {
    Write-Host 'postdeploy: no Key Vault to watch (ROTATION_KEY_VAULT_IDS is empty); the hourly sweep still runs.'
    exit 0
}

if ($env:CREATE_EVENT_SUBSCRIPTIONS -eq 'true') {
    Write-Host 'postdeploy: Event Grid subscriptions are part of main.bicep already (CREATE_EVENT_SUBSCRIPTIONS=true).'
    exit 0
}

if (Get-Command az -ErrorAction SilentlyContinue) {
    Write-Host 'postdeploy: creating the Event Grid subscriptions to on_key_event'
    az deployment sub create `
        --name "eventgrid-subscriptions-$($env:AZURE_ENV_NAME)" `
        --location $env:AZURE_LOCATION `
        --subscription $env:AZURE_SUBSCRIPTION_ID `
        --template-file (Join-Path $PSScriptRoot '..' 'eventgrid-subscriptions.bicep') `
        --parameters "systemTopicIds=$($env:EVENTGRID_SYSTEM_TOPIC_IDS)" `
                     "functionAppId=$($env:AZURE_FUNCTION_APP_ID)" `
                     "deadLetterStorageAccountId=$($env:AZURE_STORAGE_ACCOUNT_ID)" `
                     "deadLetterContainerName=$($env:EVENTGRID_DEAD_LETTER_CONTAINER)" `
        --output none
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    azd env set CREATE_EVENT_SUBSCRIPTIONS true
}
else {
    Write-Host 'postdeploy: Azure CLI not found; provisioning again with CREATE_EVENT_SUBSCRIPTIONS=true'
    azd env set CREATE_EVENT_SUBSCRIPTIONS true
    azd provision --no-prompt
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}
