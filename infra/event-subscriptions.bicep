// Event Grid subscriptions: one per Event Grid-triggered function, with the event types declared in
// shared_code/event_subscriptions.json, the one declaration devhost's local topic fans out by too.
// Add a function or an event type there, not here.
//
// Deployed only by the azd postdeploy hook (infra/hooks/postdeploy.sh), after the code, and so the
// functions, exist: Event Grid validates an AzureFunction destination when the subscription is
// created. `azd provision` never touches the subscriptions.

@description('Name of the Event Grid custom topic (CloudEvents 1.0 input schema).')
param topicName string

@description('Name of the Function App that hosts the Event Grid-triggered functions.')
param functionAppName string

@description('Storage account that receives dead-lettered events.')
param storageAccountName string

@description('Blob container for dead-lettered events.')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Delivery attempts before an event is dead-lettered (Event Grid allows 1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event before dead-lettering it (at most 1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

// { "<function name>": ["<event type>", ...], ... }
var subscriptions = loadJsonContent('../shared_code/event_subscriptions.json')

resource topic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: topicName
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource eventSubscriptions 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = [
  for subscription in items(subscriptions): {
    parent: topic
    // Subscription names allow letters, digits and hyphens only.
    name: 'to-${replace(subscription.key, '_', '-')}'
    properties: {
      destination: {
        endpointType: 'AzureFunction'
        properties: {
          resourceId: '${functionApp.id}/functions/${subscription.key}'
          maxEventsPerBatch: 1
          preferredBatchSizeInKilobytes: 64
        }
      }
      eventDeliverySchema: 'CloudEventSchemaV1_0'
      filter: {
        includedEventTypes: subscription.value
      }
      retryPolicy: {
        maxDeliveryAttempts: maxDeliveryAttempts
        eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
      }
      deadLetterWithResourceIdentity: {
        identity: {
          type: 'SystemAssigned' // the topic's identity: Storage Blob Data Contributor on the container
        }
        deadLetterDestination: {
          endpointType: 'StorageBlob'
          properties: {
            resourceId: storage.id
            blobContainerName: deadLetterContainerName
          }
        }
      }
    }
  }
]
