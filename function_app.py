"""The one FunctionApp: the Azure worker imports this module and registers every blueprint."""

import azure.functions as func

from functions import (
    missed_call,
    notifications,
    outbox,
    owner_api,
    sms_responder,
    streak_rewards,
    usage_logger,
)
from shared_code.platform.observability import configure
from shared_code.platform.settings import get_settings

configure(get_settings().log_level)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (
    missed_call.bp,
    sms_responder.bp,
    usage_logger.bp,
    streak_rewards.bp,
    notifications.bp,
    outbox.bp,
    owner_api.bp,
):
    app.register_functions(blueprint)
