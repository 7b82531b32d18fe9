-- Foundation: businesses and their keys, contacts, calls, conversations, messages, outbox.
-- Uniqueness the product depends on lives here, not in Redis.

CREATE TABLE businesses (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    phone_number         text NOT NULL UNIQUE CHECK (phone_number ~ '^\+[1-9][0-9]{6,14}$'),
    owner_phone          text CHECK (owner_phone ~ '^\+[1-9][0-9]{6,14}$'),
    owner_name           text,
    time_zone            text NOT NULL,
    weekly_hours         jsonb NOT NULL DEFAULT '{}'::jsonb,
    templates            jsonb NOT NULL DEFAULT '{}'::jsonb,
    ring_timeout_seconds int  NOT NULL DEFAULT 20 CHECK (ring_timeout_seconds BETWEEN 5 AND 600),
    blocked_numbers      text[] NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Owner API keys: only a SHA-256 of the key is stored; the key itself is shown once.
CREATE TABLE api_keys (
    key_hash     bytea PRIMARY KEY,
    business_id  uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_keys_business ON api_keys (business_id);

-- One row per (business, phone): what we know about a caller or texter.
CREATE TABLE contacts (
    business_id        uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    phone              text NOT NULL,
    opted_out_at       timestamptz,
    is_landline        boolean NOT NULL DEFAULT false,
    last_text_back_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_id, phone)
);

CREATE TABLE conversations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id     uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    customer_phone  text NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    mode            text NOT NULL DEFAULT 'assistant' CHECK (mode IN ('assistant', 'owner')),
    origin_call_sid text,
    opened_at       timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz
);
-- At most one open conversation per caller per business.
CREATE UNIQUE INDEX conversations_one_open
    ON conversations (business_id, customer_phone) WHERE status = 'open';
CREATE INDEX conversations_business_recent ON conversations (business_id, last_activity_at DESC);

-- One row per CallSid, whatever Twilio delivers and however often.
CREATE TABLE calls (
    call_sid         text PRIMARY KEY,
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    from_number      text NOT NULL,
    to_number        text NOT NULL,
    source           text NOT NULL,          -- dial-status | status | after-hours | no-owner
    dial_status      text,
    duration_seconds int,
    answered_by      text,
    missed           boolean NOT NULL,
    miss_reason      text,
    text_back_status text NOT NULL CHECK (text_back_status IN (
        'pending', 'held', 'sent', 'not_missed', 'suppressed_own_number', 'suppressed_blocked',
        'suppressed_opted_out', 'suppressed_landline', 'suppressed_open_conversation',
        'suppressed_cooldown', 'suppressed_invalid_number')),
    hold_until       timestamptz,
    conversation_id  uuid REFERENCES conversations(id),
    text_back_sid    text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    decided_at       timestamptz
);
CREATE INDEX calls_business_recent ON calls (business_id, received_at DESC);

CREATE TABLE messages (
    id               bigserial PRIMARY KEY,
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    direction        text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    author           text NOT NULL CHECK (author IN ('customer', 'assistant', 'owner', 'system')),
    body             text NOT NULL,
    message_sid      text UNIQUE,
    status           text,
    error_code       int,
    segments         int,
    encoding         text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

-- Transactional outbox: written with the state change, published after commit, re-published by
-- the outbox timer. `id` is the CloudEvent id, stable for the fact it reports.
CREATE TABLE outbox (
    id            uuid PRIMARY KEY,
    type          text NOT NULL,
    source        text NOT NULL,
    subject       text,
    data          jsonb NOT NULL,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      int NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_unpublished ON outbox (occurred_at) WHERE published_at IS NULL;

-- Owner alerts already sent, one per (event, kind): Event Grid delivers at least once.
CREATE TABLE notifications_sent (
    event_id     uuid NOT NULL,
    kind         text NOT NULL,
    business_id  uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    message_sid  text,
    sent_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, kind)
);

-- Texts "sent" while no Twilio account is configured (local development). Never used in Azure.
CREATE TABLE sandbox_messages (
    id               bigserial PRIMARY KEY,
    sid              text NOT NULL UNIQUE,
    to_number        text NOT NULL,
    from_number      text NOT NULL,
    body             text NOT NULL,
    status_callback  text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
