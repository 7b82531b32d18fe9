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

@description('Create the Event Grid subscriptions that deliver to the functions. Leave false on the very first deployment: Event Grid rejects a subscription to a function that does not exist yet ("Destination endpoint not found"). The azd postdeploy hook turns it on once the code is deployed.')
param deployEventSubscriptions bool = false

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

@description('Upper bound on Flex Consumption instances. Each instance keeps a PostgreSQL pool of up to 10 connections: size the database (postgresSkuName in resources.bicep) before raising this.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('PostgreSQL compute size. Burstable B1ms allows about 50 connections; use a General Purpose size (for example Standard_D2ds_v5) for real traffic.')
param postgresSkuName string = 'Standard_B1ms'

@description('PostgreSQL tier matching postgresSkuName.')
@allowed(['Burstable', 'GeneralPurpose', 'MemoryOptimized'])
param postgresSkuTier string = 'Burstable'

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
    deployEventSubscriptions: deployEventSubscriptions
    allowPublicNetworkAccess: allowPublicNetworkAccess
    postgresAllowedIpAddress: postgresAllowedIpAddress
    postgresAdminPassword: postgresAdminPassword
    adminApiKey: adminApiKey
    twilioAuthToken: twilioAuthToken
    twilioAccountSid: twilioAccountSid
    openAiApiKey: openAiApiKey
    openAiEnabled: openAiEnabled
    openAiBaseUrl: openAiBaseUrl
    openAiModel: openAiModel
    customPublicBaseUrl: customPublicBaseUrl
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    postgresSkuName: postgresSkuName
    postgresSkuTier: postgresSkuTier
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
