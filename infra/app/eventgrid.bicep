// A Key Vault system topic, deployed into the vault's own resource group (any subscription) and region.
// Its system-assigned identity dead-letters undeliverable events into the app's storage (rbac-deadletter.bicep).
// Azure allows one system topic per source: for a vault that already has one, main.bicep reuses it
// (eventgrid-existing.bicep) instead.
param keyVaultName string
param topicName string
param tags object = {}
param deadLetterStorageAccountId string
param deadLetterContainerName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: topicName
  location: vault.location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

module deadLetterAccess 'rbac-deadletter.bicep' = {
  name: 'rbac-dl-${take(uniqueString(topic.id), 8)}'
  scope: resourceGroup(split(deadLetterStorageAccountId, '/')[2], split(deadLetterStorageAccountId, '/')[4])
  params: {
    storageAccountName: last(split(deadLetterStorageAccountId, '/'))
    containerName: deadLetterContainerName
    topicPrincipalId: topic.identity.principalId
    topicId: topic.id
  }
}

output id string = topic.id
output name string = topic.name
