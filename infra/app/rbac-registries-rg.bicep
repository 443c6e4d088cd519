// The same two roles as rbac-registries.bicep, on one resource group holding registries.
param appPrincipalId string

var registryEncryptionWriter = '3bc748fc-213d-45c1-8d91-9da5725539b9' // Container Registry Contributor and Data Access Configuration Administrator
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader

// Container Registry Contributor and Data Access Configuration Administrator (3bc748fc-213d-45c1-8d91-9da5725539b9).
resource registryWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, appPrincipalId, registryEncryptionWriter)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', registryEncryptionWriter)
  }
}

// Reader (acdd72a7-3385-48ef-bd42-f606fba81ae7): discovery inside the resource group.
resource discoveryReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, appPrincipalId, reader)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
  }
}
