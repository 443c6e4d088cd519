// Flex Consumption plan and the Python 3.11 function app: user-assigned identity everywhere, no keys or secrets
// in settings (identity-based AzureWebJobsStorage, Entra ingestion to Application Insights).
param name string
param planName string
param location string = resourceGroup().location
param tags object = {}
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param virtualNetworkSubnetId string = ''
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048
@description('The engine\'s settings (ROTATION_*, AZURE_CLOUD), merged with the host settings below.')
param appSettings object

@description('Service name in azure.yaml: azd finds the app to deploy to by this tag.')
param serviceName string = 'rotation'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption scales per event; zone redundancy is a regional Flex option, not worth its always-ready cost here
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid delivers to on_key_event over the public endpoint (its system key); rotate and status check an Entra ID token and app role in the app (ROTATION_HTTP_AUTH=entra)
  // checkov:skip=CKV_AZURE_17: Event Grid does not present client certificates; Event Grid is authorized by the system key, operators by Entra ID tokens
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero on purpose; the timer and Event Grid wake it
  // checkov:skip=CKV_AZURE_213: health check is not available on Flex Consumption; failures surface as alerts (alerts.bicep)
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false // rotate and status take Entra ID bearer tokens (or function keys in functionkey mode); Event Grid uses the system key
    virtualNetworkSubnetId: !empty(virtualNetworkSubnetId) ? virtualNetworkSubnetId : null
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }

  // Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION: the runtime is above.
  resource settings 'config' = {
    // The next seven are about site configuration; checkov reads this app-settings resource as one (false positives).
    // checkov:skip=CKV_AZURE_13: app settings, not authentication config; the app validates Entra ID tokens itself (Easy Auth is not relied on: shared/auth.py), Event Grid uses the system key
    // checkov:skip=CKV_AZURE_63: app settings, not web config; logs go to Application Insights through OpenTelemetry
    // checkov:skip=CKV_AZURE_65: app settings, not web config; no detailed error pages on a Functions host
    // checkov:skip=CKV_AZURE_66: app settings, not web config; requests are traced in Application Insights
    // checkov:skip=CKV_AZURE_80: app settings, not web config; Python 3.13, no .NET
    // checkov:skip=CKV_AZURE_88: app settings, not web config; Flex Consumption has no Azure Files content share
    // checkov:skip=CKV_AZURE_222: app settings, not web config; public access is decided on the site (see above)
    name: 'appsettings'
    properties: union(appSettings, {
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
      AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'
      PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true' // the worker configures Azure Monitor (host.json: OpenTelemetry)
      AZURE_CLIENT_ID: identityClientId // DefaultAzureCredential picks the user-assigned identity
    })
  }
}

output id string = functionApp.id
output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
