// ACR CMK rotation: everything `azd up` deploys. One module per concern under app/.
// The Event Grid subscriptions to on_key_event need the function code to exist first (Azure/bicep#11656):
// they are created by the postdeploy hook (hooks/postdeploy.*), which deploys eventgrid-subscriptions.bicep and
// sets CREATE_EVENT_SUBSCRIPTIONS=true so that every later `azd provision` keeps them in this template.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to derive a unique token for resource names.')
param environmentName string

@minLength(1)
@description('Region of the resource group, the Flex Consumption app and its monitoring (Flex Consumption regions only).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create or reuse; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Comma-separated Key Vault resource ids to watch. Append =<system topic resource id> to an entry to reuse that vault\'s existing Event Grid system topic (Azure allows one per source). Vaults may be in other resource groups and subscriptions.')
param watchedKeyVaultIds string = ''

@description('Comma-separated subscription ids whose registries the app manages (ROTATION_SUBSCRIPTION_IDS); empty: this subscription.')
param registrySubscriptionIds string = ''

@description('Comma-separated resource group names to narrow the registries in scope (ROTATION_RESOURCE_GROUPS); empty: whole subscriptions.')
param registryResourceGroups string = ''

@description('ROTATION_DRY_RUN: plan and report, never write.')
param dryRun bool = false

@description('ROTATION_AUTO_ROTATE_KEYS: create the next key version for an expiring version in use. Grants Key Vault Crypto Officer on the watched vaults.')
param autoRotateKeys bool = false

@description('ROTATION_NEAR_EXPIRY_DAYS: alert on versions in use expiring within this many days.')
@minValue(0)
@maxValue(3650)
param nearExpiryDays int = 30

@description('ROTATION_SWEEP_SCHEDULE: NCRONTAB (six fields) of the sweep.')
param sweepSchedule string = '0 0 * * * *'

// Tuning settings: empty leaves the engine's own default (shared/settings.py), so the two never drift apart.
@description('ROTATION_POLL_INTERVAL_SECONDS: polling interval of a registry update; empty: the engine default.')
param pollIntervalSeconds string = ''

@description('ROTATION_MAX_PARALLEL_PER_SUBSCRIPTION: concurrent registry updates per subscription; empty: the engine default.')
param maxParallelPerSubscription string = ''

@description('ROTATION_EVENT_BUDGET_SECONDS: no update starts later than this after an event arrived; empty: the engine default.')
param eventBudgetSeconds string = ''

@description('ROTATION_HTTP_TIMEOUT_SECONDS: read timeout of each Azure call; empty: the engine default.')
param httpTimeoutSeconds string = ''

@description('ROTATION_QUEUE_NAME: opt-in fan-out through this Storage queue (in the host storage account); empty: in-process.')
param rotationQueueName string = ''

@description('ROTATION_DISCOVERY: list (registries listed per subscription) or resourcegraph (one Azure Resource Graph query for the whole scope; fewer calls from about 1,000 registries on, see bench/README.md).')
@allowed([
  'list'
  'resourcegraph'
])
param discovery string = 'list'

@description('ROTATION_HTTP_AUTH: entra (operators call /api/rotate and /api/status with an Entra ID token carrying an app role; no function key) or functionkey (the function key only, every run attributed to "functionkey").')
@allowed([
  'entra'
  'functionkey'
])
param httpAuth string = 'entra'

@description('ROTATION_AUTH_CLIENT_ID: client (application) id of the app registration whose tokens the operator endpoints accept; infra/hooks/app-registration.sh creates one. Empty in entra mode: the operator endpoints refuse every call until it is set (events and the sweep are unaffected).')
param authClientId string = ''

@description('ROTATION_AUTH_APP_ID_URI: that registration\'s application ID URI; empty: api://<client id>.')
param authAppIdUri string = ''
@description('ROTATION_RETIRE: what the sweep does with superseded versions of keys tagged cmk-rotation-retire-after-days (docs/retirement.md): off, plan (report what it would retire) or auto (retire; grants a custom role with only keys/read and keys/update/action on the watched vaults).')
@allowed([
  'off'
  'plan'
  'auto'
])
param retire string = 'plan'

@description('Create the Event Grid subscriptions to on_key_event. Leave false on the first `azd up`: the postdeploy hook sets it once the code is deployed.')
param createEventSubscriptions bool = false

@description('Integrate the app with a new VNet and reach its storage through private endpoints.')
param vnetEnabled bool = false

@description('Comma-separated watched Key Vault resource ids that have a firewall: each gets a private endpoint in the VNet (needs vnetEnabled). Azure Functions is not a trusted Key Vault service.')
param privateKeyVaultIds string = ''

@description('Comma-separated email addresses of the alert action group; empty: none.')
param alertEmails string = ''

@description('Webhook URI the alert action group calls (common alert schema); empty: none.')
@secure()
param alertWebhookUri string = ''

@description('Maximum instances of the Flex Consumption app.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-cmk-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'
var deadLetterContainerName = 'eventgrid-deadletter'

// Parsed lists: trimmed, empty entries dropped.
var vaultEntriesTrimmed = [for e in split(watchedKeyVaultIds, ','): trim(e)]
var vaultEntries = filter(vaultEntriesTrimmed, e => !empty(e))
var watchedVaults = [for e in vaultEntries: {
  id: split(e, '=')[0]
  subscriptionId: split(split(e, '=')[0], '/')[2]
  resourceGroup: split(split(e, '=')[0], '/')[4]
  name: last(split(split(e, '=')[0], '/'))
  existingTopicId: (length(split(e, '=')) > 1) ? split(e, '=')[1] : ''
}]
var vaultsNeedingTopic = filter(watchedVaults, v => empty(v.existingTopicId))
var vaultsWithTopic = filter(watchedVaults, v => !empty(v.existingTopicId))
// Every topic id is known before deployment: new topics get a deterministic name beside their vault.
var systemTopicIds = [for v in watchedVaults: !empty(v.existingTopicId) ? v.existingTopicId : '/subscriptions/${v.subscriptionId}/resourceGroups/${v.resourceGroup}/providers/Microsoft.EventGrid/systemTopics/evgt-${v.name}']
var registrySubscriptionsTrimmed = [for s in split(registrySubscriptionIds, ','): trim(s)]
var registrySubscriptions = filter(registrySubscriptionsTrimmed, s => !empty(s))
var registrySubscriptionsInScope = empty(registrySubscriptions) ? [subscription().subscriptionId] : registrySubscriptions
var registryGroupsTrimmed = [for g in split(registryResourceGroups, ','): trim(g)]
var registryGroups = filter(registryGroupsTrimmed, g => !empty(g))
var privateVaultsTrimmed = [for k in split(privateKeyVaultIds, ','): trim(k)]
var privateVaults = filter(privateVaultsTrimmed, k => !empty(k))
var alertEmailsTrimmed = [for a in split(alertEmails, ','): trim(a)]
var alertEmailList = filter(alertEmailsTrimmed, a => !empty(a))

// Every app setting the engine reads (shared/settings.py DEFAULTS); tests/infra checks the two stay in step.
var rotationSettings = {
  ROTATION_SUBSCRIPTION_IDS: join(registrySubscriptionsInScope, ',')
  ROTATION_RESOURCE_GROUPS: join(registryGroups, ',')
  ROTATION_DRY_RUN: string(dryRun)
  ROTATION_NEAR_EXPIRY_DAYS: string(nearExpiryDays)
  ROTATION_SWEEP_SCHEDULE: sweepSchedule
  ROTATION_AUTO_ROTATE_KEYS: string(autoRotateKeys)
  ROTATION_POLL_INTERVAL_SECONDS: pollIntervalSeconds
  ROTATION_MAX_PARALLEL_PER_SUBSCRIPTION: maxParallelPerSubscription
  ROTATION_EVENT_BUDGET_SECONDS: eventBudgetSeconds
  ROTATION_HTTP_TIMEOUT_SECONDS: httpTimeoutSeconds
  ROTATION_QUEUE_NAME: rotationQueueName
  ROTATION_MAX_INSTANCES: string(maximumInstanceCount) // each instance's share of ARM's buckets if storage is down
  ROTATION_DISCOVERY: discovery
  ROTATION_RETIRE: retire
  AZURE_CLOUD: environment().name // AzureCloud, AzureChinaCloud or AzureUSGovernment, as the engine expects
  ROTATION_HTTP_AUTH: httpAuth
  ROTATION_AUTH_TENANT_ID: tenant().tenantId // tokens are accepted from this tenant only
  ROTATION_AUTH_CLIENT_ID: authClientId
  ROTATION_AUTH_APP_ID_URI: authAppIdUri
  EVENTGRID_SYSTEM_TOPIC_IDS: join(systemTopicIds, ',') // doctor only: the topics it reads (Reader on each)
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

// The app's only identity: storage, App Insights ingestion, Key Vault and ARM all see this principal.
module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-cmk-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
  }
}

module network 'app/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    location: location
    tags: tags
    vnetName: 'vnet-${resourceToken}'
    storageAccountId: storage.outputs.id
    privateKeyVaultIds: privateVaults
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'st${resourceToken}'
    containerNames: [deploymentContainerName, deadLetterContainerName]
    queueNames: empty(rotationQueueName) ? [] : [rotationQueueName]
    vnetEnabled: vnetEnabled
  }
}

module function 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    location: location
    tags: tags
    name: functionAppName
    planName: 'plan-${resourceToken}'
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''
    appSettings: rotationSettings
  }
}

// Key Vault system topics, one per watched vault that has none yet, beside the vault (any subscription).
module systemTopics 'app/eventgrid.bicep' = [for (v, i) in vaultsNeedingTopic: {
  name: 'evgt-${i}-${take(uniqueString(v.id), 6)}'
  scope: resourceGroup(v.subscriptionId, v.resourceGroup)
  params: {
    keyVaultName: v.name
    topicName: 'evgt-${v.name}'
    tags: tags
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
}]

// Vaults that already have a system topic: reuse it; its identity gets the dead-letter container only.
module existingTopics 'app/eventgrid-existing.bicep' = [for (v, i) in vaultsWithTopic: {
  name: 'evgt-existing-${i}-${take(uniqueString(v.existingTopicId), 6)}'
  scope: resourceGroup(split(v.existingTopicId, '/')[2], split(v.existingTopicId, '/')[4])
  params: {
    systemTopicName: last(split(v.existingTopicId, '/'))
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
}]

// Least privilege, role by role: our own resource group (storage, App Insights) ...
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
  }
}

// ... each watched vault (in its own resource group and subscription) ...
module rbacVaults 'app/rbac-keyvault.bicep' = [for (v, i) in watchedVaults: {
  name: 'rbac-kv-${i}-${take(uniqueString(v.id), 6)}'
  scope: resourceGroup(v.subscriptionId, v.resourceGroup)
  params: {
    keyVaultName: v.name
    appPrincipalId: identity.outputs.principalId
    autoRotateKeys: autoRotateKeys
  }
}]

// ... with the retirement role on each watched vault, only when the sweep retires (ROTATION_RETIRE=auto) ...
module rbacRetirement 'app/rbac-retirement.bicep' = [for (v, i) in (retire == 'auto' ? watchedVaults : []): {
  name: 'rbac-retire-${i}-${take(uniqueString(v.id), 6)}'
  scope: resourceGroup(v.subscriptionId, v.resourceGroup)
  params: {
    keyVaultName: v.name
    appPrincipalId: identity.outputs.principalId
  }
}]

// ... each watched vault's Event Grid system topic (Reader on the topic alone: doctor reads its subscriptions) ...
module rbacTopics 'app/rbac-systemtopic.bicep' = [for (t, i) in systemTopicIds: {
  name: 'rbac-evgt-${i}-${take(uniqueString(t), 6)}'
  scope: resourceGroup(split(t, '/')[2], split(t, '/')[4])
  params: {
    systemTopicName: last(split(t, '/'))
    appPrincipalId: identity.outputs.principalId
  }
  dependsOn: [systemTopics, existingTopics]
}]

// ... and the registries' scope: whole subscriptions, or only the named resource groups in them.
module rbacRegistries 'app/rbac-registries.bicep' = [for (s, i) in registrySubscriptionsInScope: {
  name: 'rbac-acr-${i}-${take(uniqueString(s), 6)}'
  scope: subscription(s)
  params: {
    appPrincipalId: identity.outputs.principalId
    resourceGroupNames: registryGroups
  }
}]

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    tags: tags
    location: location
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    actionGroupName: 'ag-cmk-${resourceToken}'
    alertEmails: alertEmailList
    alertWebhookUri: alertWebhookUri
    systemTopicIds: systemTopicIds
    nearExpiryDays: nearExpiryDays
  }
}

module workbook 'app/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
  }
}

// Created only after the code exists (see the header): the postdeploy hook flips createEventSubscriptions.
module eventSubscriptions 'eventgrid-subscriptions.bicep' = if (createEventSubscriptions) {
  name: 'eventgrid-subscriptions'
  params: {
    systemTopicIds: join(systemTopicIds, ',')
    functionAppId: function.outputs.id
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
  dependsOn: [systemTopics, existingTopics]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = function.outputs.name
output AZURE_FUNCTION_APP_ID string = function.outputs.id
output AZURE_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_ID string = storage.outputs.id
output EVENTGRID_SYSTEM_TOPIC_IDS string = join(systemTopicIds, ',')
output EVENTGRID_DEAD_LETTER_CONTAINER string = deadLetterContainerName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
// Who may call the operator endpoints, for the postdeploy hook's GET /api/doctor (and `azd env get-value`).
output ROTATION_HTTP_AUTH string = httpAuth
output ROTATION_AUTH_CLIENT_ID string = authClientId
output ROTATION_AUTH_APP_ID_URI string = authAppIdUri
