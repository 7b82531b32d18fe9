# azd postdeploy hook (Windows). Same as postdeploy.sh, the one owner of the Event Grid
# subscriptions: within one ~10-minute window, (1) wait until every Key Vault reference in the app
# settings resolved, restarting the app until so, then (2) deploy infra/event-subscriptions.bicep
# (generated from shared_code/event_subscriptions.json), retrying while the host indexes the
# package. Idempotent: `azd hooks run postdeploy`.
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

$windowSeconds = 600
$retrySeconds = 30
$deadline = (Get-Date).AddSeconds($windowSeconds)
$site = "/subscriptions/$($env:AZURE_SUBSCRIPTION_ID)/resourceGroups/$($env:AZURE_RESOURCE_GROUP)/providers/Microsoft.Web/sites/$($env:AZURE_FUNCTION_APP_NAME)"

# 1. Every Key Vault reference resolved, restarting the app (at most every 2 minutes) until so.
$restartedAt = [datetime]::MinValue
while ($true) {
  $unresolved = az rest --method get `
    --url "$site/config/configreferences/appsettings?api-version=2024-11-01" `
    --query "value[?properties.status!='Resolved'].[name, properties.status]" `
    --output tsv
  if ($LASTEXITCODE -ne 0) {
    Write-Warning "postdeploy: could not read the Key Vault reference status; continuing"
    break
  }
  if (-not $unresolved) {
    Write-Host "postdeploy: every Key Vault reference in the app settings resolved."
    break
  }
  if ((Get-Date) -ge $deadline) {
    Write-Error "postdeploy: Key Vault references still unresolved after $windowSeconds s: $unresolved. Check the app identity's Key Vault Secrets User role, then 'azd hooks run postdeploy'."
  }
  Write-Host "postdeploy: unresolved Key Vault references (role assignments may still be propagating):"
  Write-Host $unresolved
  if (((Get-Date) - $restartedAt).TotalSeconds -ge 120) {
    az functionapp restart --resource-group $env:AZURE_RESOURCE_GROUP --name $env:AZURE_FUNCTION_APP_NAME --output none
    $restartedAt = Get-Date
    Write-Host "postdeploy: restarted the app so it reads them again"
  }
  Start-Sleep -Seconds $retrySeconds
}

# 2. The Event Grid subscriptions, retried until the window closes.
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
  if ((Get-Date) -ge $deadline) {
    Write-Error "postdeploy: Event Grid subscriptions failed $attempt times in $windowSeconds s; see the error above. If the functions are not listed ('az functionapp function list'), check the app's logs for a start-up error."
  }
  Write-Host "postdeploy: functions not visible to Event Grid yet (attempt $attempt); retrying in $retrySeconds s"
  $attempt++
  Start-Sleep -Seconds $retrySeconds
}

$base = if ($env:PUBLIC_BASE_URL) { $env:PUBLIC_BASE_URL } else { "https://$($env:AZURE_FUNCTION_APP_NAME).azurewebsites.net" }
Write-Host "postdeploy: Event Grid subscriptions are in place."
Write-Host "Twilio webhooks for your number (HTTP POST):"
Write-Host "  Voice, a call comes in:        $base/api/voice/incoming"
Write-Host "  Voice, call status changes:    $base/api/voice/status"
Write-Host "  Messaging, a message comes in: $base/api/sms/incoming"
Write-Host "  Messaging status callback:     $base/api/sms/status"
if ($env:VOICE_FALLBACK_BASE_URL) {
  Write-Host "Voice fallback (HTTP GET), one document per number: $($env:VOICE_FALLBACK_BASE_URL)<name>.xml"
  Write-Host "  (README: 'Voice fallback URL')"
}
