// The Event Grid subscriptions to on_key_event, on every watched vault's system topic.
// Deployed after the function code exists (Azure/bicep#11656): by hooks/postdeploy.sh|.ps1 on the first
// `azd up`, and from main.bicep on every later `azd provision` (createEventSubscriptions=true).
targetScope = 'subscription'

@description('Comma-separated system topic resource ids (main.bicep output EVENTGRID_SYSTEM_TOPIC_IDS).')
param systemTopicIds string

@description('Resource id of the function app (main.bicep output AZURE_FUNCTION_APP_ID).')
param functionAppId string

@description('Resource id of the storage account holding the dead-letter container.')
param deadLetterStorageAccountId string

param deadLetterContainerName string = 'eventgrid-deadletter'

var topicsTrimmed = [for t in split(systemTopicIds, ','): trim(t)]
var topics = filter(topicsTrimmed, t => !empty(t))

module subscriptions 'app/eventgrid-subscription.bicep' = [for (t, i) in topics: {
  name: 'evgs-${i}-${take(uniqueString(t), 6)}'
  scope: resourceGroup(split(t, '/')[2], split(t, '/')[4])
  params: {
    systemTopicName: last(split(t, '/'))
    functionAppId: functionAppId
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
  }
}]

output subscriptionCount int = length(topics)
