// NeverMiss on Azure: one resource group with everything the app needs. Deployed by `azd up`
// (see azure.yaml and the "Deploying to Azure" section of the README).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Azure region for all resources. Must offer the Flex Consumption plan and Azure Managed Redis.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person or pipeline running azd (azd sets AZURE_PRINCIPAL_ID). Gets Key Vault Secrets Officer so secrets can be read back and rotated.')
param principalId string = ''

@description('Also open the public endpoints of PostgreSQL, Redis and the Event Grid topic (the app always uses private endpoints; Storage stays closed). Only for admin access such as running migrations from a laptop.')
param allowPublicNetworkAccess bool = false

@description('With allowPublicNetworkAccess, the one IPv4 address allowed through the PostgreSQL firewall (for example your own, to run migrations). Empty means none.')
param postgresAllowedIpAddress string = ''

@secure()
@description('PostgreSQL administrator password. azd reads it back from Key Vault (secretOrRandomPassword) so it is stable across deployments.')
param postgresAdminPassword string

@secure()
@description('ADMIN_API_KEY for the owner/admin API. Generated on first deployment, then read back from Key Vault.')
param adminApiKey string

@secure()
@description('TWILIO_AUTH_TOKEN. A random placeholder until you store the real token in Key Vault (webhooks answer 403 until then).')
param twilioAuthToken string

@description('TWILIO_ACCOUNT_SID. Empty keeps texts in the sandbox table instead of sending them.')
param twilioAccountSid string = ''

@secure()
@description('OPENAI_API_KEY. Stored in Key Vault; only referenced by the app when openAiEnabled is true.')
param openAiApiKey string

@secure()
@description('LINK_SIGNING_SECRET (signs the owner\'s voicemail listen links and web sessions). Generated on first deployment, then read back from Key Vault.')
param linkSigningSecret string

@description('Use the OpenAI assistant (OPENAI_API_KEY from Key Vault). False leaves OPENAI_API_KEY empty, so the scripted intake answers.')
param openAiEnabled bool = false

@description('OPENAI_BASE_URL (empty for api.openai.com; an Azure OpenAI endpoint works too).')
param openAiBaseUrl string = ''

@description('OPENAI_MODEL.')
param openAiModel string = 'gpt-4o-mini'

@description('Public base URL Twilio calls, if not https://<app>.azurewebsites.net (a custom domain or a gateway in front). Twilio signs the exact URL it calls, so PUBLIC_BASE_URL must match it.')
param customPublicBaseUrl string = ''

@description('Memory per Flex Consumption instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Upper bound on Flex Consumption instances. Each instance keeps a PostgreSQL pool of up to databasePoolSize connections (through PgBouncer on General Purpose): see docs/scaling.md before raising this.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('PostgreSQL compute size. The production default, General Purpose Standard_D2ds_v5, has the built-in PgBouncer (port 6432) the app connects through. The cheap option for trials: Standard_B1ms with postgresSkuTier Burstable (35 user connections, no PgBouncer). See docs/scaling.md.')
param postgresSkuName string = 'Standard_D2ds_v5'

@description('PostgreSQL tier matching postgresSkuName. Anything but Burstable turns PgBouncer on.')
@allowed(['Burstable', 'GeneralPurpose', 'MemoryOptimized'])
param postgresSkuTier string = 'GeneralPurpose'

@description('DATABASE_POOL_SIZE: PostgreSQL connections per worker process (see docs/scaling.md).')
@minValue(1)
@maxValue(20)
param databasePoolSize int = 5

@description('Always-ready instances for the HTTP trigger group (Twilio webhooks answer within 15 s even after a quiet hour). 0 saves the idle cost and accepts cold starts.')
@minValue(0)
@maxValue(20)
param httpAlwaysReady int = 1

@description('Key Vault purge protection. Off by default so `azd down --purge` and a new `azd up` with the same environment name work; on for production (irreversible: the vault name then stays blocked for 90 days after deletion).')
param keyVaultPurgeProtection bool = false

@description('Azure Managed Redis high availability (a replica). Off by default: Redis is a cache whose loss never breaks correctness.')
param redisHighAvailability bool = false

@description('Log every queue read (trigger polls) to Log Analytics. Off by default: a constant ingestion bill.')
param queueReadLogs bool = false

@description('Days voicemail audio is kept (VOICEMAIL_RETENTION_DAYS, and the Blob lifecycle rule behind it).')
@minValue(1)
param voicemailRetentionDays int = 90

@description('Create the public-read storage account for the static voice fallback TwiML of each Twilio number (README: "Voice fallback URL").')
param voiceFallback bool = true

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'nevermiss-resources'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    principalId: principalId
    allowPublicNetworkAccess: allowPublicNetworkAccess
    postgresAllowedIpAddress: postgresAllowedIpAddress
    postgresAdminPassword: postgresAdminPassword
    adminApiKey: adminApiKey
    twilioAuthToken: twilioAuthToken
    twilioAccountSid: twilioAccountSid
    openAiApiKey: openAiApiKey
    linkSigningSecret: linkSigningSecret
    openAiEnabled: openAiEnabled
    openAiBaseUrl: openAiBaseUrl
    openAiModel: openAiModel
    customPublicBaseUrl: customPublicBaseUrl
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    postgresSkuName: postgresSkuName
    postgresSkuTier: postgresSkuTier
    databasePoolSize: databasePoolSize
    httpAlwaysReady: httpAlwaysReady
    keyVaultPurgeProtection: keyVaultPurgeProtection
    redisHighAvailability: redisHighAvailability
    queueReadLogs: queueReadLogs
    voicemailRetentionDays: voicemailRetentionDays
    voiceFallback: voiceFallback
  }
}

// azd stores these outputs in the environment (.azure/<env>/.env); hooks read them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_STORAGE_ACCOUNT_NAME string = resources.outputs.storageAccountName
output AZURE_KEY_VAULT_NAME string = resources.outputs.keyVaultName
output EVENTGRID_TOPIC_NAME string = resources.outputs.eventGridTopicName
output EVENTGRID_DEAD_LETTER_CONTAINER string = resources.outputs.deadLetterContainerName
output POSTGRES_SERVER_NAME string = resources.outputs.postgresServerName
output PUBLIC_BASE_URL string = resources.outputs.publicBaseUrl
output APPLICATIONINSIGHTS_NAME string = resources.outputs.applicationInsightsName
output VOICE_FALLBACK_BASE_URL string = resources.outputs.voiceFallbackBaseUrl
output VOICE_FALLBACK_STORAGE_NAME string = resources.outputs.voiceFallbackStorageName
