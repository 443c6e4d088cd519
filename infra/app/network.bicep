// Optional (vnetEnabled): a VNet for Flex Consumption integration, private endpoints to the app's storage, and
// private endpoints to firewalled Key Vaults. Azure Functions is not a trusted Key Vault service, so a vault whose
// firewall denies public traffic is reachable only this way (or through its own VNet rules).
param location string = resourceGroup().location
param tags object = {}
param vnetName string
param storageAccountId string
@description('Key Vault resource ids that get a private endpoint in this VNet (any subscription).')
param privateKeyVaultIds array = []
param addressPrefix string = '10.42.0.0/16'
param appSubnetPrefix string = '10.42.1.0/24'
param privateEndpointSubnetPrefix string = '10.42.2.0/24'

// Private DNS zone names per cloud (environment().name matches AZURE_CLOUD).
var keyVaultZones = {
  AzureCloud: 'privatelink.vaultcore.azure.net'
  AzureUSGovernment: 'privatelink.vaultcore.usgovcloudapi.net'
  AzureChinaCloud: 'privatelink.vaultcore.azure.cn'
}
var storageGroups = ['blob', 'queue']

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${vnetName}'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [addressPrefix]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          delegations: [
            {
              name: 'flex'
              properties: {
                serviceName: 'Microsoft.App/environments' // Flex Consumption VNet integration
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource storageZones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for g in storageGroups: {
  name: 'privatelink.${g}.${environment().suffixes.storage}'
  location: 'global'
  tags: tags
}]

resource storageZoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (g, i) in storageGroups: {
  parent: storageZones[i]
  name: 'link-${vnetName}'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

resource storageEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for g in storageGroups: {
  name: 'pe-${last(split(storageAccountId, '/'))}-${g}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: vnet.properties.subnets[1].id
    }
    privateLinkServiceConnections: [
      {
        name: 'storage-${g}'
        properties: {
          privateLinkServiceId: storageAccountId
          groupIds: [g]
        }
      }
    ]
  }
}]

resource storageEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (g, i) in storageGroups: {
  parent: storageEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: g
        properties: {
          privateDnsZoneId: storageZones[i].id
        }
      }
    ]
  }
}]

resource keyVaultZone 'Microsoft.Network/privateDnsZones@2020-06-01' = if (!empty(privateKeyVaultIds)) {
  name: keyVaultZones[environment().name]
  location: 'global'
  tags: tags
}

resource keyVaultZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = if (!empty(privateKeyVaultIds)) {
  parent: keyVaultZone
  name: 'link-${vnetName}'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

// The connection is approved automatically when the deployer may approve it on the vault; otherwise it waits
// as Pending for the vault's owner (docs/deploy.md).
resource keyVaultEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for (kv, i) in privateKeyVaultIds: {
  name: 'pe-${last(split(kv, '/'))}-vault'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: vnet.properties.subnets[1].id
    }
    privateLinkServiceConnections: [
      {
        name: 'vault-${i}'
        properties: {
          privateLinkServiceId: kv
          groupIds: ['vault']
        }
      }
    ]
  }
}]

resource keyVaultEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (kv, i) in privateKeyVaultIds: {
  parent: keyVaultEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vault'
        properties: {
          privateDnsZoneId: keyVaultZone.id
        }
      }
    ]
  }
}]

output vnetId string = vnet.id
output appSubnetId string = vnet.properties.subnets[0].id
output privateEndpointSubnetId string = vnet.properties.subnets[1].id
