// The operators' workbook (infra/workbook, issue 4), shared in the resource group and bound to Application Insights.
param location string = resourceGroup().location
param tags object = {}
param applicationInsightsId string
param displayName string = 'ACR CMK rotation'

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, applicationInsightsId, 'acr-cmk-rotation-workbook') // workbooks are named by a GUID
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: loadTextContent('../workbook/rotation-workbook.json')
  }
}

output id string = workbook.id
