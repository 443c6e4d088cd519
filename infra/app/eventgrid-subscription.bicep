// One event subscription on one Key Vault system topic: the three key events, to on_key_event.
param systemTopicName string
param functionAppId string
param deadLetterStorageAccountId string
param deadLetterContainerName string

// Exactly the event types on_key_event handles (shared.events.KeyEventKind); tests/infra checks it.
var keyEventTypes = [
  'Microsoft.KeyVault.KeyNewVersionCreated'
  'Microsoft.KeyVault.KeyNearExpiry'
  'Microsoft.KeyVault.KeyExpired'
]

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource keyEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'acr-cmk-rotation'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/on_key_event'
        // One event per request: each gets the whole 30 s Event Grid allows (ROTATION_EVENT_BUDGET_SECONDS).
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: keyEventTypes
    }
    // Events are hints and the hourly sweep converges anyway: retry for a day, then dead-letter.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned' // the topic's identity: Storage Blob Data Contributor on the container (rbac.bicep)
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output id string = keyEvents.id
