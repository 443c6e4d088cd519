// Retirement of superseded key versions (ROTATION_RETIRE=auto, docs/retirement.md): a custom role holding only the
// data actions that disabling a version needs, assigned to the app on one watched vault (deployed into the vault's
// resource group). Not Key Vault Crypto Officer, which can also delete and purge. A vault on access policies needs
// the key permissions get, list and update for the app instead.
param keyVaultName string
param appPrincipalId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// One definition per resource group, assignable there only.
resource retirementRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'acr-cmk-key-version-retirement')
  properties: {
    roleName: 'ACR CMK Key Version Retirement (${resourceGroup().name})'
    description: 'Read keys and disable or re-enable their versions (PATCH attributes.enabled). Nothing else.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.KeyVault/vaults/keys/read'
          'Microsoft.KeyVault/vaults/keys/update/action'
        ]
        notDataActions: []
      }
    ]
  }
}

resource retirement 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, retirementRole.id)
  scope: vault
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: retirementRole.id
  }
}
