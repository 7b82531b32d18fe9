-- Webhook reports the queue service could not take when Twilio called (a storage outage): kept
-- here by the webhook, in the time Twilio allows it, and put on their queue by the outbox timer.
-- One row per queue and webhook fact (the webhook's dedupe key: a Twilio retry of the same
-- webhook changes nothing); a row is deleted once its put succeeded. `message` is the queue
-- message's JSON text exactly as it would have been queued (text, not jsonb: kept byte for byte).
CREATE TABLE webhook_inbox (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    dedupe_key text NOT NULL,
    message text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz,
    UNIQUE (queue, dedupe_key)
);
