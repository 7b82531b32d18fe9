"""The one FunctionApp: the Azure worker imports this module and registers every blueprint."""

import azure.functions as func

from functions import (
    followups,
    missed_call,
    notifications,
    outbox,
    owner_api,
    sms_responder,
    streak_rewards,
    usage_logger,
    voicemail,
    web,
)
from shared_code.platform.azure_identity import check_azure_settings
from shared_code.platform.observability import configure
from shared_code.platform.settings import get_settings

configure(get_settings().log_level)
# In Azure, a missing setting (or an unresolved Key Vault reference) stops the worker here with
# a message naming it, instead of connecting to Azurite or failing on every request.
check_azure_settings()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (
    missed_call.bp,
    sms_responder.bp,
    usage_logger.bp,
    streak_rewards.bp,
    notifications.bp,
    outbox.bp,
    owner_api.bp,
    followups.bp,
    web.bp,
    voicemail.bp,
):
    app.register_functions(blueprint)
