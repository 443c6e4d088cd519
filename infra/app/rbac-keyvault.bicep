// Roles of the app's identity on one watched Key Vault (deployed into the vault's resource group).
// The vault must use Azure RBAC authorization; a vault on access policies needs get/list on keys instead
// (and rotate when autoRotateKeys is on).
param keyVaultName string
param appPrincipalId string
param autoRotateKeys bool = false

var keyVaultReader = '21090545-7ca7-4776-b22c-e363652d74d2' // Key Vault Reader: key metadata and versions
var keyVaultCryptoOfficer = '14b46e9e-c2b7-41b4-b07b-48a6ebf60603' // Key Vault Crypto Officer: rotate_key

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Key Vault Reader (21090545-7ca7-4776-b22c-e363652d74d2): list versions, read attributes; never key material.
resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultReader)
  scope: vault
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultReader)
  }
}

// Key Vault Crypto Officer (14b46e9e-c2b7-41b4-b07b-48a6ebf60603): only with ROTATION_AUTO_ROTATE_KEYS=true.
resource cryptoOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (autoRotateKeys) {
  name: guid(vault.id, appPrincipalId, keyVaultCryptoOfficer)
  scope: vault
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoOfficer)
  }
}
