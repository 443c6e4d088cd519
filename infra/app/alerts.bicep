// Alert rules and where they go. The five log alerts run the telemetry queries in infra/kql/ verbatim
// (loadTextContent: one copy of each query, shared with the workbook and docs/telemetry.md); any row fires.
// Dead-lettered Key Vault events are a metric alert on each system topic.
param location string = resourceGroup().location
param tags object = {}
param applicationInsightsId string
param actionGroupName string
@description('Email addresses to notify.')
param alertEmails array = []
@description('Webhook called with the common alert schema; empty: none.')
@secure()
param alertWebhookUri string = ''
@description('ROTATION_NEAR_EXPIRY_DAYS: the keys-expiring query\'s threshold.')
param nearExpiryDays int = 30
@description('System topic resource ids (main.bicep computes them before deployment).')
param systemTopicIds array = []

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'acr-cmk'
    enabled: true
    emailReceivers: [for (address, i) in alertEmails: {
      name: 'email-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
    webhookReceivers: empty(alertWebhookUri) ? [] : [
      {
        name: 'webhook'
        serviceUri: alertWebhookUri
        useCommonAlertSchema: true
      }
    ]
  }
}

// keys-expiring.kql declares its threshold on one line meant to be replaced (infra/kql, issue 4).
var thresholdLine = 'let thresholdDays = 30;'
var keysExpiringQuery = replace(loadTextContent('../kql/keys-expiring.kql'), thresholdLine, 'let thresholdDays = ${nearExpiryDays};')

// One rule per query; severity 0 = critical ... 4 = verbose. The sweep reports every hour: a two-hour window
// survives one missed run (widen it if ROTATION_SWEEP_SCHEDULE runs less often).
var logAlerts = [
  {
    name: 'failed-rotations'
    displayName: 'ACR CMK: a registry rotation failed'
    description: 'A registry could not be moved to the newest usable key version (outcome failed). See the reason.'
    query: loadTextContent('../kql/failed-rotations.kql')
    severity: 1
    frequency: 'PT15M'
    window: 'PT1H'
  }
  {
    name: 'keys-expiring'
    displayName: 'ACR CMK: a key version in use expires soon'
    description: 'A key version a registry uses expires within ROTATION_NEAR_EXPIRY_DAYS and no newer usable version exists.'
    query: keysExpiringQuery
    severity: 2
    frequency: 'PT1H'
    window: 'PT2H'
  }
  {
    name: 'expired-keys-in-use'
    displayName: 'ACR CMK: an expired key version is in use'
    description: 'A registry is encrypted with an expired key version. Expired still unwraps; disabled or deleted would take the registry offline.'
    query: loadTextContent('../kql/expired-keys-in-use.kql')
    severity: 1
    frequency: 'PT1H'
    window: 'PT2H'
  }
  {
    name: 'registries-lagging'
    displayName: 'ACR CMK: a registry lags the newest key version'
    description: 'A pinned registry is not on the newest usable key version after a sweep.'
    query: loadTextContent('../kql/registries-lagging.kql')
    severity: 2
    frequency: 'PT1H'
    window: 'PT2H'
  }
  {
    name: 'configuration-problems'
    displayName: 'ACR CMK: the app is misconfigured'
    description: 'A run met a permanent configuration problem (credential, tenant, subscription, provider, canary). The detail names the fix; see docs/troubleshooting.md.'
    query: loadTextContent('../kql/configuration-problems.kql')
    severity: 1
    frequency: 'PT15M'
    window: 'PT2H'
  }
]

resource queryRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for a in logAlerts: {
  name: 'cmk-${a.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: a.displayName
    description: a.description
    severity: a.severity
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: a.frequency
    windowSize: a.window
    criteria: {
      allOf: [
        {
          query: a.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [actionGroup.id]
    }
  }
}]

resource deadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = [for (topicId, i) in systemTopicIds: {
  name: 'cmk-dead-lettered-${last(split(topicId, '/'))}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Key Vault events for on_key_event were dead-lettered (storage container eventgrid-deadletter). The hourly sweep still converges; find out why delivery failed.'
    severity: 2
    enabled: true
    scopes: [topicId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          timeAggregation: 'Total'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}]

// Every forced downgrade (break-glass) is worth a look, each one on its own: a stateless rule (no auto-mitigation,
// so a second downgrade while the first is still in the window notifies again) over rows ingested since the last
// evaluation, so that ingestion delay neither hides one nor repeats it.
var downgradeFrequencyMinutes = 5
var downgradesForcedQuery = '${loadTextContent('../kql/downgrades-forced.kql')}| where ingestion_time() > ago(${downgradeFrequencyMinutes}m)\n'

resource downgradesForced 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'cmk-downgrades-forced'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'ACR CMK: a registry was forced onto an older key version'
    description: 'A break-glass request (Rotation.BreakGlass, toVersion with allowDowngrade) moved a registry to an older key version. The row names who asked and the reason they gave.'
    severity: 1
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT${downgradeFrequencyMinutes}M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: downgradesForcedQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [actionGroup.id]
    }
  }
}

output actionGroupId string = actionGroup.id
