#!/bin/sh
# azd postdeploy hook: the one owner of the Event Grid subscriptions. The code is deployed now, so
# the Event Grid-triggered functions exist and Event Grid accepts subscriptions to them (before
# that it answers "Destination endpoint not found"). Two steps, within one ~10-minute window:
#
# 1. Key Vault references: the app's settings point at Key Vault; right after a first deployment
#    the identity's role may not have propagated yet, and the platform then keeps the literal
#    reference until the next restart. Ask App Service which references resolved (the
#    config/configreferences/appsettings API) and restart the app until all have.
# 2. Deploy infra/event-subscriptions.bicep (generated from shared_code/event_subscriptions.json),
#    retrying while the host indexes the new package.
#
# Idempotent: run it again any time with `azd hooks run postdeploy`. `azd provision` never
# touches the subscriptions (they are not in main.bicep), so ARM's incremental mode keeps them.
set -eu

for name in AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME EVENTGRID_TOPIC_NAME \
  AZURE_STORAGE_ACCOUNT_NAME EVENTGRID_DEAD_LETTER_CONTAINER; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "postdeploy: $name is not set; run this through azd (azd up / azd deploy)" >&2
    exit 1
  fi
done

if ! az account show --output none 2>/dev/null; then
  echo "postdeploy: the Azure CLI is not signed in. Run 'az login', then 'azd hooks run postdeploy'." >&2
  exit 1
fi

window_seconds=600
retry_seconds=30
deadline=$(($(date +%s) + window_seconds))
site="/subscriptions/$AZURE_SUBSCRIPTION_ID/resourceGroups/$AZURE_RESOURCE_GROUP/providers/Microsoft.Web/sites/$AZURE_FUNCTION_APP_NAME"

# 1. Every Key Vault reference resolved, restarting the app (at most every 2 minutes) until so.
restarted_at=0
while :; do
  if ! unresolved=$(az rest --method get \
    --url "$site/config/configreferences/appsettings?api-version=2024-11-01" \
    --query "value[?properties.status!='Resolved'].[name, properties.status]" \
    --output tsv); then
    echo "postdeploy: could not read the Key Vault reference status; continuing" >&2
    break
  fi
  if [ -z "$unresolved" ]; then
    echo "postdeploy: every Key Vault reference in the app settings resolved."
    break
  fi
  now=$(date +%s)
  if [ "$now" -ge "$deadline" ]; then
    echo "postdeploy: Key Vault references still unresolved after $window_seconds s:" >&2
    echo "$unresolved" >&2
    echo "Check the app identity's Key Vault Secrets User role, then 'azd hooks run postdeploy'." >&2
    exit 1
  fi
  echo "postdeploy: unresolved Key Vault references (role assignments may still be propagating):"
  echo "$unresolved"
  if [ $((now - restarted_at)) -ge 120 ]; then
    az functionapp restart --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" --output none
    restarted_at=$now
    echo "postdeploy: restarted the app so it reads them again"
  fi
  sleep "$retry_seconds"
done

# 2. The Event Grid subscriptions. The host indexes the new package asynchronously and Event Grid
# looks the functions up when a subscription is created: retry until the window closes.
attempt=1
until az deployment group create \
  --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name nevermiss-event-subscriptions \
  --template-file infra/event-subscriptions.bicep \
  --parameters topicName="$EVENTGRID_TOPIC_NAME" functionAppName="$AZURE_FUNCTION_APP_NAME" \
  storageAccountName="$AZURE_STORAGE_ACCOUNT_NAME" deadLetterContainerName="$EVENTGRID_DEAD_LETTER_CONTAINER" \
  --output none; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "postdeploy: Event Grid subscriptions failed $attempt times in $window_seconds s; see the error above." >&2
    echo "If the functions are not listed ('az functionapp function list'), check the app's logs for a start-up error." >&2
    exit 1
  fi
  echo "postdeploy: functions not visible to Event Grid yet (attempt $attempt); retrying in $retry_seconds s"
  attempt=$((attempt + 1))
  sleep "$retry_seconds"
done

base="${PUBLIC_BASE_URL:-https://$AZURE_FUNCTION_APP_NAME.azurewebsites.net}"
echo "postdeploy: Event Grid subscriptions are in place."
echo "Twilio webhooks for your number (HTTP POST):"
echo "  Voice, a call comes in:       $base/api/voice/incoming"
echo "  Voice, call status changes:   $base/api/voice/status"
echo "  Messaging, a message comes in: $base/api/sms/incoming"
echo "  Messaging status callback:     $base/api/sms/status"
if [ -n "${VOICE_FALLBACK_BASE_URL:-}" ]; then
  echo "Voice fallback (HTTP GET), one document per number: ${VOICE_FALLBACK_BASE_URL}<name>.xml"
  echo "  (README: 'Voice fallback URL')"
fi
