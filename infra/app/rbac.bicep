// Roles of the app's user-assigned identity inside its own resource group. Each role id is named beside it;
// assignment names are deterministic guid()s, so re-running a deployment changes nothing.
//
// Not assigned, on purpose:
// - Managed Identity Operator (f1a07417-d97a-45cb-824c-7a7467783830): needed only to attach a user-assigned
//   identity to a resource (Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action). The engine's
//   registry PATCH carries only properties.encryption and names the identity the registry already has, so no
//   linked-access check applies. Grant it on a registry's identity only if you change the app to add identities.
// - Storage Table Data Contributor: no table-backed trigger (Durable Functions) is used.
// - Key Vault Crypto Service Encryption User: that is the registries' own identity's role, granted by whoever set
//   up CMK on each registry; the app never wraps or unwraps.
param storageAccountName string
param applicationInsightsName string
param appPrincipalId string

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner: host leases, deployment package
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor: AzureWebJobsStorage__queueServiceUri
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher: Entra ingestion
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Storage Blob Data Owner (b7e6dc6d-f1e8-4753-8033-0f276bb0955b), as the Flex Consumption samples grant it.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// Storage Queue Data Contributor (974c5e8b-45b9-4653-ba55-5f855dd0fb88).
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

// Monitoring Metrics Publisher (3913510d-42f4-4e42-8a64-420c390055eb): App Insights has local auth off.
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}
