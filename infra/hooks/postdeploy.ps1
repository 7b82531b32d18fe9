# azd postdeploy hook (Windows). Same as postdeploy.sh: the functions exist now, so create the Event
# Grid subscriptions from infra/event-subscriptions.bicep (generated from
# shared_code/event_subscriptions.json), then keep them on for later `azd provision` runs.
$ErrorActionPreference = 'Stop'

foreach ($name in 'AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME',
  'EVENTGRID_TOPIC_NAME', 'AZURE_STORAGE_ACCOUNT_NAME', 'EVENTGRID_DEAD_LETTER_CONTAINER') {
  if (-not [Environment]::GetEnvironmentVariable($name)) {
    Write-Error "postdeploy: $name is not set; run this through azd (azd up / azd deploy)"
  }
}

az account show --output none 2>$null
if ($LASTEXITCODE -ne 0) {
  Write-Error "postdeploy: the Azure CLI is not signed in. Run 'az login', then 'azd hooks run postdeploy'."
}

$attempt = 1
while ($true) {
  az deployment group create `
    --subscription $env:AZURE_SUBSCRIPTION_ID `
    --resource-group $env:AZURE_RESOURCE_GROUP `
    --name nevermiss-event-subscriptions `
    --template-file infra/event-subscriptions.bicep `
    --parameters topicName=$env:EVENTGRID_TOPIC_NAME functionAppName=$env:AZURE_FUNCTION_APP_NAME `
    storageAccountName=$env:AZURE_STORAGE_ACCOUNT_NAME deadLetterContainerName=$env:EVENTGRID_DEAD_LETTER_CONTAINER `
    --output none
  if ($LASTEXITCODE -eq 0) { break }
  if ($attempt -ge 6) {
    Write-Error "postdeploy: Event Grid subscriptions failed $attempt times; see the error above."
  }
  Write-Host "postdeploy: functions not visible to Event Grid yet (attempt $attempt); retrying in 30 s"
  $attempt++
  Start-Sleep -Seconds 30
}

azd env set DEPLOY_EVENT_SUBSCRIPTIONS true

$base = if ($env:PUBLIC_BASE_URL) { $env:PUBLIC_BASE_URL } else { "https://$($env:AZURE_FUNCTION_APP_NAME).azurewebsites.net" }
Write-Host "postdeploy: Event Grid subscriptions are in place."
Write-Host "Twilio webhooks for your number (HTTP POST):"
Write-Host "  Voice, a call comes in:        $base/api/voice/incoming"
Write-Host "  Voice, call status changes:    $base/api/voice/status"
Write-Host "  Messaging, a message comes in: $base/api/sms/incoming"
Write-Host "  Messaging status callback:     $base/api/sms/status"
