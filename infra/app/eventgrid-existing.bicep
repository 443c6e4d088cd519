// A vault's existing system topic, reused (one per source): only its identity gets access to dead-letter.
// The topic must have a system-assigned identity (`az eventgrid system-topic update --identity systemassigned`).
param systemTopicName string
param deadLetterStorageAccountId string
param deadLetterContainerName string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
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
