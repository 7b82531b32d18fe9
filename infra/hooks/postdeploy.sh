#!/bin/sh
# azd postdeploy hook. The code is deployed now, so the Event Grid-triggered functions exist and
# Event Grid accepts subscriptions to them (before that it answers "Destination endpoint not
# found"). Deploys infra/event-subscriptions.bicep, generated from
# shared_code/event_subscriptions.json, then records DEPLOY_EVENT_SUBSCRIPTIONS=true so the next
# `azd provision` keeps them in the main deployment. Idempotent; run it again with
# `azd hooks run postdeploy`.
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

# The Functions host indexes the new package asynchronously; Event Grid looks the functions up when
# the subscription is created, so retry for a few minutes.
attempt=1
until az deployment group create \
  --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name nevermiss-event-subscriptions \
  --template-file infra/event-subscriptions.bicep \
  --parameters topicName="$EVENTGRID_TOPIC_NAME" functionAppName="$AZURE_FUNCTION_APP_NAME" \
  storageAccountName="$AZURE_STORAGE_ACCOUNT_NAME" deadLetterContainerName="$EVENTGRID_DEAD_LETTER_CONTAINER" \
  --output none; do
  if [ "$attempt" -ge 6 ]; then
    echo "postdeploy: Event Grid subscriptions failed $attempt times; see the error above." >&2
    exit 1
  fi
  echo "postdeploy: functions not visible to Event Grid yet (attempt $attempt); retrying in 30 s"
  attempt=$((attempt + 1))
  sleep 30
done

azd env set DEPLOY_EVENT_SUBSCRIPTIONS true

base="${PUBLIC_BASE_URL:-https://$AZURE_FUNCTION_APP_NAME.azurewebsites.net}"
echo "postdeploy: Event Grid subscriptions are in place."
echo "Twilio webhooks for your number (HTTP POST):"
echo "  Voice, a call comes in:       $base/api/voice/incoming"
echo "  Voice, call status changes:   $base/api/voice/status"
echo "  Messaging, a message comes in: $base/api/sms/incoming"
echo "  Messaging status callback:     $base/api/sms/status"
