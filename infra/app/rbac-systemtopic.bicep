// The app's identity may read one Event Grid system topic and its event subscriptions, so that doctor can check
// that key events reach on_key_event (Microsoft.EventGrid/systemTopics/read and .../eventSubscriptions/read).
// Reader on the topic alone is the least built-in role that allows both: EventGrid EventSubscription Reader grants
// neither systemTopics action, and EventGrid Contributor can write. Nothing else in the topic's resource group
// becomes readable. Deployed into the topic's resource group (any subscription).
param systemTopicName string
param appPrincipalId string

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

// Reader (acdd72a7-3385-48ef-bd42-f606fba81ae7) on the system topic only.
resource topicReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, appPrincipalId, reader)
  scope: topic
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
  }
}
