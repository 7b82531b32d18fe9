// Every NeverMiss resource, in one resource group. Plain resources (no registry modules) so that
// checkov and the tests in tests/infra/ can read all of it offline.
//
// Network shape: the Function App is integrated into a VNet and reaches PostgreSQL, Redis, Storage
// and the Event Grid topic through private endpoints. The public endpoints of PostgreSQL, Redis and
// the topic stay closed unless allowPublicNetworkAccess is true (admin access only); Storage's
// firewall admits only trusted Azure services (Event Grid dead-lettering). Key Vault stays public
// behind RBAC (see its suppressions). The Function App itself is public: Twilio must reach the
// webhooks, which check X-Twilio-Signature on every request.
//
// Identity, not keys: the app reaches Storage (queues, blobs) and the Event Grid topic with its
// managed identity (shared_code/platform/azure_identity.py), so the storage account refuses shared
// keys and the topic its access keys. Key Vault keeps what has no identity alternative here: the
// PostgreSQL password, the Redis access key, Twilio's and OpenAI's credentials, generated secrets.

param location string
param tags object
param resourceToken string
param principalId string
param allowPublicNetworkAccess bool
param postgresAllowedIpAddress string
@secure()
param postgresAdminPassword string
@secure()
param adminApiKey string
@secure()
param twilioAuthToken string
param twilioAccountSid string
@secure()
param openAiApiKey string
@secure()
param linkSigningSecret string
param openAiEnabled bool
param openAiBaseUrl string
param openAiModel string
param customPublicBaseUrl string
param instanceMemoryMB int
param maximumInstanceCount int

@description('Concurrent HTTP requests one instance takes. The handlers are async and answer in milliseconds; the Flex default for Python (1) would start an instance, and a database pool, per concurrent webhook.')
param httpPerInstanceConcurrency int = 16

@description('PostgreSQL compute. General Purpose (the default, Standard_D2ds_v5) gets the built-in PgBouncer on port 6432, which the app connects through; Burstable B1ms (35 user connections, no PgBouncer) is the cheap option for trials. See docs/scaling.md.')
param postgresSkuName string
param postgresSkuTier string

@description('DATABASE_POOL_SIZE: connections one worker process keeps. Through PgBouncer these are cheap client connections (up to 5,000); on Burstable without it, instances x this must stay under 35.')
@minValue(1)
@maxValue(20)
param databasePoolSize int = 5

@description('Warm instances kept for the HTTP trigger group (Twilio gives a webhook 15 s; a cold start costs seconds). Billed while idle.')
@minValue(0)
param httpAlwaysReady int = 1

@description('Key Vault purge protection. Off by default so `azd down --purge` followed by `azd up` in the same environment works; turn it on for production (it can never be turned off again).')
param keyVaultPurgeProtection bool

@description('Azure Managed Redis high availability (a replica). Off by default: Redis only speeds things up and losing it never breaks correctness, so the replica would double the cost for nothing essential.')
param redisHighAvailability bool

@description('Send the queue service\'s StorageRead logs (every dequeue and peek of the queue triggers) to Log Analytics. Off by default: a constant ingestion bill; writes and deletes are always logged.')
param queueReadLogs bool

@description('Days voicemail audio is kept in the voicemails container (VOICEMAIL_RETENTION_DAYS): the app\'s retention timer deletes it, and a lifecycle rule deletes anything older as a backstop.')
@minValue(1)
param voicemailRetentionDays int = 90

@description('Create the public-read storage account that serves each Twilio number\'s static voice fallback TwiML (README: "Voice fallback URL").')
param voiceFallback bool

// ---------------------------------------------------------------- names
var functionAppName = 'func-${resourceToken}'
var planName = 'plan-${resourceToken}'
var storageAccountName = 'st${resourceToken}'
var keyVaultName = 'kv-${resourceToken}'
var eventGridTopicName = 'evgt-${resourceToken}'
var postgresServerName = 'psql-${resourceToken}'
var postgresAdminLogin = 'nevermiss_admin'
var postgresDatabaseName = 'nevermiss'
var redisName = 'redis-${resourceToken}'
var logAnalyticsName = 'log-${resourceToken}'
var applicationInsightsName = 'appi-${resourceToken}'
var vnetName = 'vnet-${resourceToken}'
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'
var voicemailContainerName = 'voicemails' // VOICEMAIL_CONTAINER
var fallbackStorageName = 'stfb${resourceToken}'
var fallbackContainerName = 'twiml'
// PgBouncer is built into General Purpose and Memory Optimized servers only.
var postgresPgBouncer = postgresSkuTier != 'Burstable'
var postgresAppPort = postgresPgBouncer ? 6432 : 5432

// The storage queues the app uses (functions/missed_call.py, sms_responder.py, voicemail.py) and
// the poison queues the host moves a message to after maxDequeueCount (host.json). The host creates
// them on demand too; declaring them makes the names reviewable and testable.
var queueNames = [
  'calls'
  'calls-poison'
  'messages'
  'messages-poison'
  'recordings'
  'recordings-poison'
]

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// ---------------------------------------------------------------- monitoring
resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true // the app authenticates with its managed identity (Monitoring Metrics Publisher)
  }
}

// ---------------------------------------------------------------- network
resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${resourceToken}'
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
      addressPrefixes: [
        '10.40.0.0/16'
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: '10.40.1.0/24'
          // The app's outbound traffic (Twilio, OpenAI, Key Vault) leaves through this subnet. New
          // subnets default to no internet egress; keep Azure's default outbound access explicitly,
          // or attach a NAT gateway here for a fixed egress IP.
          defaultOutboundAccess: true
          networkSecurityGroup: {
            id: nsg.id
          }
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments' // the delegation Flex Consumption VNet integration requires
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: '10.40.2.0/24'
          networkSecurityGroup: {
            id: nsg.id
          }
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

// ---------------------------------------------------------------- storage
resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  // checkov:skip=CKV2_AZURE_1:Microsoft-managed keys are enough here: queues hold transient webhook hand-offs; blobs hold the deployment package, dead-lettered events and voicemail audio (private, deleted after VOICEMAIL_RETENTION_DAYS), all encrypted at rest by the platform.
  // checkov:skip=CKV2_AZURE_41:Shared keys are disabled (allowSharedKeyAccess false), so no SAS token can be signed with an account key; a SAS expiration policy would govern nothing.
  // checkov:skip=CKV_AZURE_206:Locally redundant is enough for transient queue messages and a redeployable package; geo-replication would double the cost for no recovery benefit.
  // checkov:skip=CKV_AZURE_33:Queue service logging goes through diagnostic settings to Log Analytics (storageQueueDiagnostics), not classic Storage Analytics logging (which needs shared keys).
  // checkov:skip=CKV_AZURE_59:publicNetworkAccess stays Enabled only so the trusted-service bypass lets Event Grid dead-letter into blob storage; networkAcls denies everything else.
  // checkov:skip=CKV_AZURE_43:The name is 'st' plus a 13-character lowercase uniqueString(): 15 lowercase letters and digits, which checkov cannot evaluate.
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false // the host, the deployment and the app all use the managed identity
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Deny' // the app comes in through private endpoints; nobody needs the public one
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Voicemail audio (shared_code/platform/blobs.py): private, reached only through the app.
resource voicemailContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: voicemailContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The backstop of the app's voicemail retention timer: the platform deletes audio older than
// VOICEMAIL_RETENTION_DAYS (evaluated about once a day) even if the timer never ran.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2024-01-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-old-voicemails'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${voicemailContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterCreationGreaterThan: voicemailRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    voicemailContainer
  ]
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2024-01-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2024-01-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

resource storageQueueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'queue-logs'
  scope: queueService
  properties: {
    workspaceId: logAnalytics.id
    logs: [
      {
        category: 'StorageRead'
        enabled: queueReadLogs // every trigger poll is a read: off unless asked for
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

// ---------------------------------------------------------------- key vault
resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  // checkov:skip=CKV_AZURE_189:App Service resolves Key Vault references and azd reads generated secrets back (secretOrRandomPassword) over the public endpoint; access is Entra RBAC only, no access policies.
  // checkov:skip=CKV2_AZURE_32:See CKV_AZURE_189: the vault keeps its public endpoint (RBAC-protected) so Key Vault references and azd can reach it.
  // checkov:skip=CKV_AZURE_109:See CKV_AZURE_189: no IP firewall, because App Service and azd reach the vault from addresses that are not fixed; RBAC guards every read.
  // checkov:skip=CKV_AZURE_42:Soft delete is on (90 days); purge protection, the other half of this check, is the keyVaultPurgeProtection parameter (see CKV_AZURE_110).
  // checkov:skip=CKV_AZURE_110:Purge protection is the keyVaultPurgeProtection parameter, off by default so `azd down --purge` then `azd up` in the same environment works (a purge-protected vault blocks its name for 90 days); turn it on for production.
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The API refuses false once enabled (and never needs it): leave it out when off.
    enablePurgeProtection: keyVaultPurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Secrets. App settings reference them (@Microsoft.KeyVault(SecretUri=...)) without a version, so
// the app picks up a new version on restart or within 24 hours. Generated and externally issued
// secrets (admin key, link signing secret, Twilio token, OpenAI key, PostgreSQL password) come in through azd's
// secretOrRandomPassword, which reads the current value back from this vault: a value rotated in
// Key Vault survives the next `azd provision`. Derived secrets are recomputed on every deployment.
var secretAttributes = {
  enabled: true
}

resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41:Recomputed on every deployment from the server's admin password; an expiry would silently break the app.
  parent: keyVault
  name: 'DATABASE-URL'
  properties: {
    contentType: 'text/plain'
    attributes: secretAttributes
    // Through the built-in PgBouncer (6432) when the tier has it; the app then runs with
    // DATABASE_POOLER=pgbouncer (no prepared-statement cache).
    value: 'postgresql://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:${postgresAppPort}/${postgresDatabaseName}?sslmode=require'
  }
}

resource databaseMigrationUrlSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41:Recomputed on every deployment from the server's admin password; an expiry would silently break migrations.
  parent: keyVault
  name: 'DATABASE-MIGRATION-URL'
  properties: {
    contentType: 'text/plain'
    attributes: secretAttributes
    // Migrations hold an advisory lock across statements: the direct port, never PgBouncer.
    value: 'postgresql://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/${postgresDatabaseName}?sslmode=require'
  }
}

resource postgresPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41:Rotated by operators (README); an expiry would silently break the app.
  parent: keyVault
  name: 'POSTGRES-ADMIN-PASSWORD'
  properties: {
    contentType: 'text/plain'
    attributes: secretAttributes
    value: postgresAdminPassword
  }
}

// The one listKeys() left: redis-py authenticates with a password, and Entra ID tokens would need
// the separate redis-entraid provider (token refresh and re-AUTH of pooled connections), not
// deployed or testable here. Redis holds nothing correctness depends on (README, "Why the key").
resource redisUrlSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41:Recomputed from the cache's access key on every deployment; an expiry would silently break the app.
  parent: keyVault
  name: 'REDIS-URL'
  properties: {
    contentType: 'text/plain'
    attributes: secretAttributes
    value: 'rediss://:${uriComponent(redisDatabase.listKeys().primaryKey)}@${redis.properties.hostName}:10000/0'
  }
}

resource twilioAuthTokenSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41:Issued by Twilio and rotated there; an expiry would silently break every webhook.
  parent: keyVault
  name: 'TWILIO-AUTH-TOKEN'
  properties: {
    contentType: 'text/plain'
    attributes: secretAttributes
    value: twilioAuthToken
  }
}

resource openAiApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41:Issued by OpenAI and rotated there; an expiry would silently break the assistant.
  parent: keyVault
  name: 'OPENAI-API-KEY'
  properties: {
    contentType: 'text/plain'
    attributes: secretAttributes
    value: openAiApiKey
  }
}

resource linkSigningSecretSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41:Rotated by operators (README); an expiry would invalidate every listen link and web session at once.
  parent: keyVault
  name: 'LINK-SIGNING-SECRET'
  properties: {
    contentType: 'text/plain'
    attributes: secretAttributes
    value: linkSigningSecret
  }
}

resource adminApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  // checkov:skip=CKV_AZURE_41:Rotated by operators (README); an expiry would lock admins out.
  parent: keyVault
  name: 'ADMIN-API-KEY'
  properties: {
    contentType: 'text/plain'
    attributes: secretAttributes
    value: adminApiKey
  }
}

// ---------------------------------------------------------------- event grid
resource eventGridTopic 'Microsoft.EventGrid/topics@2025-02-15' = {
  // checkov:skip=CKV_AZURE_193:publicNetworkAccess is Disabled unless allowPublicNetworkAccess (default false) is set; checkov cannot evaluate the parameter. The app publishes through the private endpoint.
  name: eventGridTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned' // dead-letters into blob storage with its own identity, no storage key
  }
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    publicNetworkAccess: allowPublicNetworkAccess ? 'Enabled' : 'Disabled'
    disableLocalAuth: true // the app publishes with its identity (EventGrid Data Sender), no key
    minimumTlsVersionAllowed: '1.2'
  }
}

// ---------------------------------------------------------------- postgresql
resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  // checkov:skip=CKV_AZURE_136:Geo-redundant backup roughly doubles backup cost; point-in-time restore within the region (7 days) is the baseline. Turn it on for production data you cannot re-create.
  name: postgresServerName
  location: location
  tags: tags
  sku: {
    name: postgresSkuName
    tier: postgresSkuTier
  }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    // asyncpg connects with the password kept in Key Vault (DATABASE_URL). Entra tokens would need
    // a token-refreshing connect hook in shared_code/platform/db.py first.
    authConfig: {
      activeDirectoryAuth: 'Disabled'
      passwordAuth: 'Enabled'
    }
    storage: {
      storageSizeGB: 32
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      publicNetworkAccess: allowPublicNetworkAccess ? 'Enabled' : 'Disabled'
    }
  }
}

// The server's children go one at a time: database, then each configuration, then the firewall
// rule, then (below) the private endpoint. The server refuses concurrent changes with
// "ServerIsBusy" (the AVM module serialises them for that reason).
resource postgresDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: postgresDatabaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

resource postgresTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: postgres
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    postgresDatabase
  ]
}

// The built-in PgBouncer (port 6432, transaction pooling), on General Purpose / Memory Optimized
// only; dynamic, no restart. DATABASE_URL goes through it, DATABASE_MIGRATION_URL does not.
resource postgresPgBouncer 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = if (postgresPgBouncer) {
  parent: postgres
  name: 'pgbouncer.enabled'
  properties: {
    value: 'true'
    source: 'user-override'
  }
  dependsOn: [
    postgresTls
  ]
}

resource postgresAdminFirewall 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (allowPublicNetworkAccess && !empty(postgresAllowedIpAddress)) {
  parent: postgres
  name: 'admin-ip'
  properties: {
    startIpAddress: postgresAllowedIpAddress
    endIpAddress: postgresAllowedIpAddress
  }
  dependsOn: [
    postgresTls
    postgresPgBouncer
  ]
}

// ---------------------------------------------------------------- redis
// Azure Managed Redis (Microsoft.Cache/redisEnterprise), not Azure Cache for Redis: the latter's
// Basic/Standard/Premium tiers are retiring (2028-09-30) and new tenants can no longer create them;
// Azure Managed Redis is the GA successor. Balanced_B0 is its smallest size (0.5 GB), plenty for
// the config cache, dedupe pre-filter, locks and rate limits; losing it never breaks correctness.
// NoCluster keeps a single endpoint for redis-py's non-cluster client (redis.Redis.from_url).
resource redis 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: redisName
  location: location
  tags: tags
  sku: {
    name: 'Balanced_B0'
  }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: redisHighAvailability ? 'Enabled' : 'Disabled' // see redisHighAvailability
    publicNetworkAccess: allowPublicNetworkAccess ? 'Enabled' : 'Disabled'
  }
}

resource redisDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: redis
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    clusteringPolicy: 'NoCluster'
    evictionPolicy: 'VolatileLRU'
    // shared_code/platform/cache.py connects with REDIS_URL (access key kept in Key Vault); see
    // redisUrlSecret for why not Entra ID.
    accessKeysAuthentication: 'Enabled'
  }
}

// ---------------------------------------------------------------- private endpoints
var privateLinks = [
  {
    name: 'blob'
    serviceId: storage.id
    groupId: 'blob'
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    name: 'queue'
    serviceId: storage.id
    groupId: 'queue'
    zone: 'privatelink.queue.${environment().suffixes.storage}'
  }
  {
    name: 'postgres'
    serviceId: postgres.id
    groupId: 'postgresqlServer'
    zone: 'privatelink.postgres.database.azure.com'
  }
  {
    name: 'redis'
    serviceId: redis.id
    groupId: 'redisEnterprise'
    zone: 'privatelink.redis.azure.net'
  }
  {
    name: 'eventgrid'
    serviceId: eventGridTopic.id
    groupId: 'topic'
    zone: 'privatelink.eventgrid.azure.net'
  }
]

resource privateDnsZones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for link in privateLinks: {
    name: link.zone
    location: 'global'
    tags: tags
  }
]

resource privateDnsZoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (link, i) in privateLinks: {
    parent: privateDnsZones[i]
    name: vnetName
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for link in privateLinks: {
    name: 'pe-${link.name}-${resourceToken}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: '${vnet.id}/subnets/private-endpoints'
      }
      privateLinkServiceConnections: [
        {
          name: link.name
          properties: {
            privateLinkServiceId: link.serviceId
            groupIds: [
              link.groupId
            ]
          }
        }
      ]
    }
    // Last in the PostgreSQL chain (see postgresDatabase): the server takes one change at a time.
    dependsOn: [
      postgresAdminFirewall
      postgresPgBouncer
      postgresTls
      postgresDatabase
    ]
  }
]

resource privateDnsZoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (link, i) in privateLinks: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: link.name
          properties: {
            privateDnsZoneId: privateDnsZones[i].id
          }
        }
      ]
    }
  }
]

// ---------------------------------------------------------------- function app
resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy for Flex Consumption exists only in some regions and would make `azd up` fail elsewhere; set zoneRedundant where your region offers it.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

// The HTTP trigger group (every webhook and API route) kept warm; other groups start on demand.
var httpAlwaysReadyGroups = [
  {
    name: 'http'
    instanceCount: httpAlwaysReady
  }
]

resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  // checkov:skip=CKV_AZURE_56:Twilio cannot sign in through App Service Authentication; every webhook checks X-Twilio-Signature and the /api/v1 routes check a Bearer API key.
  // checkov:skip=CKV_AZURE_17:Twilio does not present client certificates.
  // checkov:skip=CKV_AZURE_222:The app must stay public: Twilio calls the webhooks from the internet.
  // checkov:skip=CKV_AZURE_212:Flex Consumption is serverless: the platform replaces failed instances and scales out by itself (alwaysReady keeps warm instances if cold starts matter).
  // checkov:skip=CKV_AZURE_213:App Service health check is not offered on the Flex Consumption plan.
  name: functionAppName
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: '${vnet.id}/subnets/app'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
        // Twilio waits 15 s for a webhook; a cold start (Python worker, imports) costs seconds.
        alwaysReady: (httpAlwaysReady > 0) ? httpAlwaysReadyGroups : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Deployments go through Entra ID (azd), never FTP or basic-auth SCM.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// ---------------------------------------------------------------- role assignments
// Storage Blob Data Owner (the host's own storage and the deployment package need it, per the
// Flex Consumption docs) includes what the app's voicemail archive needs (Blob Data Contributor).
resource appStorageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionApp.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appStorageQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionApp.id, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appKeyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, functionApp.id, roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appEventGridSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventGridTopic.id, functionApp.id, roles.eventGridDataSender)
  scope: eventGridTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, functionApp.id, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource topicDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, eventGridTopic.id, roles.storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: eventGridTopic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(keyVault.id, principalId, roles.keyVaultSecretsOfficer)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: principalId
  }
}

// ---------------------------------------------------------------- app settings
// Twilio signs the URL it calls; the app recomputes the signature over PUBLIC_BASE_URL + path.
var publicBaseUrl = empty(customPublicBaseUrl) ? 'https://${functionApp.properties.defaultHostName}' : customPublicBaseUrl

// One entry per key of local.settings.example.json and per setting the app reads
// (tests/infra/test_infra_matches_app.py checks both), except:
//   FUNCTIONS_WORKER_RUNTIME  -> functionAppConfig.runtime (Flex Consumption rejects the setting)
//   AzureWebJobsFeatureFlags  -> worker indexing is the default on Functions v4
//   AzureWebJobsStorage       -> AzureWebJobsStorage__accountName + __credential: the host and the
//                                app's own queue and blob clients, all by managed identity
//   EVENTGRID_TOPIC_KEY       -> none: the app publishes with its identity (the topic has no keys)
// Secrets are Key Vault references, never values.
resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  // checkov reads every sites/config resource as the 'web' site configuration. These checks are
  // about that configuration (on functionApp) or about App Service web apps, not app settings:
  // checkov:skip=CKV_AZURE_13:Not a 'web' config; see CKV_AZURE_56 on functionApp (Twilio signatures and Bearer keys instead of App Service Authentication).
  // checkov:skip=CKV_AZURE_63:Not a 'web' config; HTTP logs go to Application Insights (requests table).
  // checkov:skip=CKV_AZURE_65:Not a 'web' config; detailed error pages are an IIS feature, not used by a Linux function app.
  // checkov:skip=CKV_AZURE_66:Not a 'web' config; failed request tracing is an IIS feature, not used by a Linux function app.
  // checkov:skip=CKV_AZURE_80:Not a 'web' config; the app runs Python 3.11, not .NET.
  // checkov:skip=CKV_AZURE_88:Not a 'web' config; Flex Consumption deploys from a blob container, not Azure Files.
  // checkov:skip=CKV_AZURE_222:Not a 'web' config; see CKV_AZURE_222 on functionApp (Twilio needs the public endpoint).
  parent: functionApp
  name: 'appsettings'
  properties: {
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    // On Python <= 3.12 the worker would load its own bundled azure-functions; the app needs the
    // pinned one (func.CloudEvent, 1.25+) or indexing the Event Grid functions fails.
    PYTHON_ISOLATE_WORKER_DEPENDENCIES: '1'
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
    DATABASE_URL: '@Microsoft.KeyVault(SecretUri=${databaseUrlSecret.properties.secretUri})'
    DATABASE_POOLER: postgresPgBouncer ? 'pgbouncer' : 'none'
    DATABASE_MIGRATION_URL: '@Microsoft.KeyVault(SecretUri=${databaseMigrationUrlSecret.properties.secretUri})'
    DATABASE_POOL_SIZE: string(databasePoolSize)
    REDIS_URL: '@Microsoft.KeyVault(SecretUri=${redisUrlSecret.properties.secretUri})'
    EVENTGRID_TOPIC_ENDPOINT: eventGridTopic.properties.endpoint
    PUBLIC_BASE_URL: publicBaseUrl
    TWILIO_ACCOUNT_SID: twilioAccountSid
    TWILIO_AUTH_TOKEN: '@Microsoft.KeyVault(SecretUri=${twilioAuthTokenSecret.properties.secretUri})'
    TWILIO_API_BASE_URL: 'https://api.twilio.com'
    OPENAI_API_KEY: openAiEnabled ? '@Microsoft.KeyVault(SecretUri=${openAiApiKeySecret.properties.secretUri})' : ''
    OPENAI_BASE_URL: openAiBaseUrl
    OPENAI_MODEL: openAiModel
    ADMIN_API_KEY: '@Microsoft.KeyVault(SecretUri=${adminApiKeySecret.properties.secretUri})'
    LINK_SIGNING_SECRET: '@Microsoft.KeyVault(SecretUri=${linkSigningSecretSecret.properties.secretUri})'
    LISTEN_LINK_DAYS: '7'
    // Azure's front end appends the caller's address to X-Forwarded-For (add one for Front Door).
    TRUSTED_PROXY_HOPS: '1'
    VOICEMAIL_CONTAINER: voicemailContainer.name
    VOICEMAIL_MAX_SECONDS: '120'
    VOICEMAIL_RETENTION_DAYS: string(voicemailRetentionDays)
    VOICEMAIL_RETENTION_SCHEDULE: '0 30 4 * * *'
    RECORDING_STORAGE: 'twilio'
    RECORDINGS_S3_BUCKET: ''
    RECORDINGS_S3_PREFIX: ''
    TRANSCRIPTION: 'auto'
    TRANSCRIPTION_MODEL: 'gpt-4o-mini-transcribe'
    TRANSCRIPTION_PRICE_PER_MINUTE_MICRO: '3000'
    TRANSCRIPTION_TIMEOUT_SECONDS: '30'
    TRANSCRIPTION_MAX_ATTEMPTS: '5'
    RING_TIMEOUT_SECONDS: '18'
    MIN_ANSWERED_SECONDS: '8'
    TEXT_BACK_COOLDOWN_HOURS: '24'
    QUIET_HOURS_START: '21:00'
    QUIET_HOURS_END: '08:00'
    WEBHOOK_DEDUPE_SECONDS: '86400'
    BUSINESS_CACHE_SECONDS: '10'
    OUTBOX_SCHEDULE: '0 */1 * * * *'
    OUTBOX_REPUBLISH_AFTER_SECONDS: '30'
    STREAK_REWARDS_SCHEDULE: '0 5 * * * *'
    STREAK_DAILY_REWARD_MICRO: '10000'
    STREAK_MILESTONES: '7:100000,30:500000,100:2000000'
    STREAK_MAX_FREEZES: '2'
    STREAK_SETTLE_WORKERS: '2'
    STREAK_FREEZE_EVERY_DAYS: '7'
    BURST_WINDOW_SECONDS: '2'
    MAX_AUTOMATED_PER_HOUR: '8'
    OWNER_IDLE_MINUTES: '30'
    EMERGENCY_KEYWORDS: ''
    SMS_RATE_PER_SECOND: '1'
    SMS_VALIDITY_SECONDS: '3600'
    TWILIO_TIMEOUT_SECONDS: '10'
    SEND_RETRY_AFTER_SECONDS: '30'
    SEND_MAX_ATTEMPTS: '30'
    REPLY_LEASE_SECONDS: '60'
    ASSISTANT_TIMEOUT_SECONDS: '8'
    SMS_PRICE_PER_SEGMENT_MICRO: '8300'
    FALLBACK_INPUT_PRICE_PER_MTOK_MICRO: '5000000'
    FALLBACK_OUTPUT_PRICE_PER_MTOK_MICRO: '15000000'
    CREDITS_LOW_THRESHOLD_MICRO: '1000000'
    SIGNUP_CREDIT_MICRO: '5000000'
    RESERVATION_TTL_SECONDS: '600'
    MIGRATE_ON_START: 'true'
    LOG_LEVEL: 'INFO'
  }
  dependsOn: [
    // Key Vault references and identity-based storage resolve only once the roles exist.
    appKeyVaultSecretsUser
    appStorageBlobOwner
    appStorageQueueContributor
    appEventGridSender
    appMetricsPublisher
    privateDnsZoneGroups
  ]
}

// ---------------------------------------------------------------- event grid subscriptions
// Not here: the azd postdeploy hook owns them (infra/hooks/postdeploy.sh deploys
// event-subscriptions.bicep once the functions exist). ARM's incremental mode leaves them in place
// on every later `azd provision`, which therefore never re-validates them against an app that is
// restarting for new settings.

// ---------------------------------------------------------------- voice fallback
// A public-read container holding one static TwiML document per Twilio number (dial the owner),
// set as the number's Voice fallback URL (HTTP GET): calls still reach the owner when the app is
// down. Its own account, so the app's account stays closed to the internet. README: "Voice
// fallback URL".
resource fallbackStorage 'Microsoft.Storage/storageAccounts@2024-01-01' = if (voiceFallback) {
  // checkov:skip=CKV_AZURE_190:The container serves static TwiML to Twilio, which fetches the fallback URL anonymously; blobs are readable by exact (unguessable) name only, the container is not listable.
  // checkov:skip=CKV_AZURE_59:Twilio fetches the fallback TwiML from the internet; nothing else is stored here.
  // checkov:skip=CKV2_AZURE_1:The documents are public by design (static TwiML); customer-managed keys would protect nothing.
  // checkov:skip=CKV_AZURE_206:Locally redundant is enough for a few small documents the operator can re-upload from the README.
  // checkov:skip=CKV_AZURE_33:No queues are used in this account.
  // checkov:skip=CKV2_AZURE_33:A private endpoint would hide the documents from Twilio, their only reader.
  // checkov:skip=CKV2_AZURE_38:Soft delete is on for blobs (fallbackBlobService); the documents are re-created from the README steps.
  // checkov:skip=CKV2_AZURE_47:Anonymous blob read is the point: Twilio fetches the fallback TwiML without credentials.
  // checkov:skip=CKV_AZURE_43:The name is 'stfb' plus a 13-character lowercase uniqueString(): 17 lowercase letters and digits, which checkov cannot evaluate.
  name: fallbackStorageName
  // checkov:skip=CKV_AZURE_35:Twilio fetches the fallback TwiML from addresses that are not fixed, so the firewall admits everyone; the account holds nothing else and refuses shared keys.
  // checkov:skip=CKV_AZURE_44:minimumTlsVersion is TLS1_2 below; checkov reads no properties of a conditional resource (deployed only with voiceFallback).
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: true // anonymous read of the TwiML blobs (container level 'Blob')
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false // uploads go through Entra ID (az storage blob upload --auth-mode login)
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource fallbackBlobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = if (voiceFallback) {
  parent: fallbackStorage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource fallbackContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = if (voiceFallback) {
  // checkov:skip=CKV_AZURE_34:Blob-level anonymous read (not container listing) is how Twilio fetches the fallback TwiML.
  parent: fallbackBlobService
  name: fallbackContainerName
  properties: {
    publicAccess: 'Blob'
  }
}

// The person running azd uploads the TwiML documents with their Entra identity.
resource deployerFallbackWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (voiceFallback && !empty(principalId)) {
  name: guid(fallbackStorageName, principalId, roles.storageBlobDataContributor)
  scope: fallbackStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: principalId
  }
}

output functionAppName string = functionApp.name
output storageAccountName string = storage.name
output keyVaultName string = keyVault.name
output eventGridTopicName string = eventGridTopic.name
output deadLetterContainerName string = deadLetterContainer.name
output postgresServerName string = postgres.name
output publicBaseUrl string = publicBaseUrl
output applicationInsightsName string = applicationInsights.name
output voiceFallbackBaseUrl string = voiceFallback ? 'https://${fallbackStorageName}.blob.${environment().suffixes.storage}/${fallbackContainerName}/' : ''
output voiceFallbackStorageName string = voiceFallback ? fallbackStorageName : ''
