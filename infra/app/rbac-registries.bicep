// Roles of the app's identity on the registries' scope in one subscription: the whole subscription, or only the
// named resource groups (rbac-registries-rg.bicep) when ROTATION_RESOURCE_GROUPS narrows the scope.
targetScope = 'subscription'

param appPrincipalId string
@description('Resource group names; empty: the whole subscription.')
param resourceGroupNames array = []

var registryEncryptionWriter = '3bc748fc-213d-45c1-8d91-9da5725539b9' // Container Registry Contributor and Data Access Configuration Administrator
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader

// Container Registry Contributor and Data Access Configuration Administrator (3bc748fc-213d-45c1-8d91-9da5725539b9):
// read registries and PATCH their encryption; no data-plane (push/pull) rights.
resource registryWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (empty(resourceGroupNames)) {
  name: guid(subscription().id, appPrincipalId, registryEncryptionWriter)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', registryEncryptionWriter)
  }
}

// Reader (acdd72a7-3385-48ef-bd42-f606fba81ae7): discovery; the subscription is listed and its registries found.
resource discoveryReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (empty(resourceGroupNames)) {
  name: guid(subscription().id, appPrincipalId, reader)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
  }
}

module perResourceGroup 'rbac-registries-rg.bicep' = [for (g, i) in resourceGroupNames: {
  name: 'rbac-acr-rg-${i}-${take(uniqueString(subscription().id, g), 6)}'
  scope: resourceGroup(g)
  params: {
    appPrincipalId: appPrincipalId
  }
}]
