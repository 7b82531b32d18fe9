-- Sending after commit: every outgoing text is first an intent, committed with the decision that
-- makes it (unique per fact: the call's text-back, the reply through message N, the alert for
-- event E), then sent with no transaction open, then marked with Twilio's sid. A crash between
-- Twilio's answer and the mark leaves the intent `sending`: it is looked up at Twilio before any
-- resend (Twilio's Messages API has no idempotency key).

CREATE TABLE outbound_texts (
    id                     bigserial PRIMARY KEY,
    fact_key               text NOT NULL UNIQUE,
    business_id            uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    conversation_id        uuid REFERENCES conversations(id) ON DELETE CASCADE,
    message_id             bigint REFERENCES messages(id) ON DELETE SET NULL,
    to_number              text NOT NULL,
    from_number            text NOT NULL,
    messaging_service_sid  text,
    body                   text NOT NULL,
    author                 text NOT NULL,
    kind                   text NOT NULL,
    automated              boolean NOT NULL,
    -- an opt-out confirmation may reach the number that just opted out (a retry asks again)
    allow_opted_out        boolean NOT NULL DEFAULT false,
    validity_seconds       int CHECK (validity_seconds BETWEEN 1 AND 36000),
    source                 text NOT NULL,
    status                 text NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts               int NOT NULL DEFAULT 0,
    sending_since          timestamptz,
    message_sid            text UNIQUE,
    error_code             int,
    error                  text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    sent_at                timestamptz
);
-- The outbox timer's sweep: intents not yet sent (or whose send was interrupted).
CREATE INDEX outbound_texts_unsent ON outbound_texts (created_at)
    WHERE status IN ('pending', 'sending');

-- A2P 10DLC: a business sends through its Messaging Service (registered campaign) when it has
-- one. A sender-configuration refusal (30034, 21606, ...) pauses its automated texts until the
-- operator fixes the registration and clears the pause.
ALTER TABLE businesses
    ADD COLUMN messaging_service_sid  text CHECK (messaging_service_sid ~ '^MG[0-9a-fA-F]{32}$'),
    ADD COLUMN sending_paused_at      timestamptz,
    ADD COLUMN sending_paused_reason  text;
