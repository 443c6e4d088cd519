# azd postdeploy hook (Windows): see postdeploy.sh. Creates the Event Grid subscriptions to on_key_event once the
# function exists (Azure/bicep#11656), then records CREATE_EVENT_SUBSCRIPTIONS=true for later `azd provision` runs.
# Last, it prints doctor's report from the deployed app (GET /api/doctor); that never fails `azd up`.
$ErrorActionPreference = 'Stop'

# The same checks from this machine, as the deployer (its network and identity, not the app's).
function Write-LocalDoctor {
    Write-Host 'postdeploy: run the same checks from this machine (as you, from your network) with:'
    Write-Host "  `$env:EVENTGRID_SYSTEM_TOPIC_IDS='$($env:EVENTGRID_SYSTEM_TOPIC_IDS)'; python -m shared doctor --app $($env:AZURE_FUNCTION_APP_NAME)"
    Write-Host '  (with the ROTATION_* settings you gave azd set, and after az login); see README, "doctor".'
}

# doctor's report, as the app's own identity and from its own network. Never fails the deployment.
function Invoke-Doctor {
    try {
        if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
            Write-Host 'postdeploy: cannot call GET /api/doctor yet: it needs the Azure CLI (for a token or the key).'
            Write-LocalDoctor
            return
        }
        $hostName = az functionapp show --name $env:AZURE_FUNCTION_APP_NAME --resource-group $env:AZURE_RESOURCE_GROUP `
            --query defaultHostName --output tsv 2>$null
        # Entra mode (the default): a token for the app's registration (the deployer needs Rotation.Read);
        # functionkey mode: the function key.
        $headers = @{}
        if ($env:ROTATION_HTTP_AUTH -eq 'functionkey') {
            $key = az functionapp keys list --name $env:AZURE_FUNCTION_APP_NAME --resource-group $env:AZURE_RESOURCE_GROUP `
                --query functionKeys.default --output tsv 2>$null
            if ($key) { $headers['x-functions-key'] = $key }
        }
        elseif ($env:ROTATION_AUTH_CLIENT_ID -or $env:ROTATION_AUTH_APP_ID_URI) {
            $audience = if ($env:ROTATION_AUTH_APP_ID_URI) { $env:ROTATION_AUTH_APP_ID_URI } else { "api://$($env:ROTATION_AUTH_CLIENT_ID)" }
            $token = az account get-access-token --resource $audience --query accessToken --output tsv 2>$null
            if ($token) { $headers['Authorization'] = "Bearer $token" }
        }
        if (-not $hostName -or $headers.Count -eq 0) {
            Write-Host "postdeploy: cannot call GET /api/doctor yet: your identity may not read the app's host name, or get a token for the app (ROTATION_AUTH_CLIENT_ID, and the Rotation.Read app role) or its function key."
            Write-LocalDoctor
            return
        }
        $report = New-TemporaryFile
        Invoke-WebRequest -Uri "https://$hostName/api/doctor" -Headers $headers `
            -TimeoutSec 180 -OutFile $report -UseBasicParsing | Out-Null
        Write-Host 'postdeploy: doctor, run by the deployed app (GET /api/doctor):'
        python (Join-Path $PSScriptRoot 'print_doctor.py') $report
        if ($LASTEXITCODE -ne 0) { Get-Content $report | Write-Host }
        Remove-Item $report -ErrorAction SilentlyContinue
    }
    catch {
        Write-Host "postdeploy: cannot call GET /api/doctor yet ($($_.Exception.Message); the app may still be starting)."
        Write-LocalDoctor
    }
}

if (-not $env:EVENTGRID_SYSTEM_TOPIC_IDS) {
    Write-Host 'postdeploy: no Key Vault to watch (ROTATION_KEY_VAULT_IDS is empty); the hourly sweep still runs.'
    Invoke-Doctor
    exit 0
}

if ($env:CREATE_EVENT_SUBSCRIPTIONS -eq 'true') {
    Write-Host 'postdeploy: Event Grid subscriptions are part of main.bicep already (CREATE_EVENT_SUBSCRIPTIONS=true).'
    Invoke-Doctor
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
Invoke-Doctor
