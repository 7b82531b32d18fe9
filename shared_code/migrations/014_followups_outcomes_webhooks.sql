-- Issue 15: follow-ups after an unanswered text-back, outcomes (booked, won, lost, spam) and
-- the recovery funnel built on them, signed webhooks to the owner's CRM, and a booking link.

ALTER TABLE businesses
    -- NULL: the default schedule (30 min, 1 day, 3 days); '[]': follow-ups off; else up to 5
    -- steps [{"after_minutes": n} | {"after_days": n}] (see messaging.followup_plan).
    ADD COLUMN followup_schedule jsonb
        CHECK (followup_schedule IS NULL OR (jsonb_typeof(followup_schedule) = 'array'
               AND jsonb_array_length(followup_schedule) <= 5)),
    ADD COLUMN booking_url text
        CHECK (booking_url IS NULL OR (booking_url ~ '^https?://' AND length(booking_url) <= 500));

-- One row per follow-up step of a conversation: created when the text before it was sent (the
-- text-back for step 1), drained by the follow-ups timer with FOR UPDATE SKIP LOCKED. The unique
-- key is what makes each step happen at most once, however many timers run at once (and the
-- text's intent, keyed `followup:<conversation>:<step>`, is unique again).
CREATE TABLE followup_tasks (
    id               bigserial PRIMARY KEY,
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    step             int NOT NULL CHECK (step BETWEEN 1 AND 5),
    -- The text this step follows (when it was sent): the schedule counts from it.
    anchor_at        timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'scheduled'
                     CHECK (status IN ('scheduled', 'sent', 'cancelled')),
    -- Why a step was held (quiet hours, loop guard, paused sending) or cancelled (replied, ...).
    reason           text,
    text_id          bigint REFERENCES outbound_texts(id) ON DELETE SET NULL,
    holds            int NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz,
    UNIQUE (conversation_id, step)
);
CREATE INDEX followup_tasks_due ON followup_tasks (due_at) WHERE status = 'scheduled';

-- What happened to a lead, as the owner says (API or "#12 won 450" by text). The conversation
-- keeps the latest; every marking is kept in conversation_outcomes (its id names the event).
ALTER TABLE conversations
    ADD COLUMN outcome              text CHECK (outcome IN ('booked', 'won', 'lost', 'spam')),
    ADD COLUMN outcome_value_micro  bigint CHECK (outcome_value_micro >= 0),
    ADD COLUMN outcome_reason       text CHECK (length(outcome_reason) <= 300),
    ADD COLUMN outcome_at           timestamptz;

CREATE TABLE conversation_outcomes (
    id               bigserial PRIMARY KEY,
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    outcome          text NOT NULL CHECK (outcome IN ('booked', 'won', 'lost', 'spam')),
    value_micro      bigint CHECK (value_micro >= 0),
    reason           text CHECK (length(reason) <= 300),
    source           text NOT NULL CHECK (source IN ('api', 'sms')),
    -- The request that marked it (an owner text's MessageSid): a redelivery marks nothing twice.
    request_key      text UNIQUE,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_outcomes_conversation ON conversation_outcomes (conversation_id, id);

-- Outbound webhooks (Standard Webhooks): per business endpoints and one delivery row per
-- (endpoint, event), so a redelivered event is one delivery with one stable webhook-id.
CREATE TABLE webhook_endpoints (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id   uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    url           text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    description   text NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    -- whsec_ + base64 of 32 random bytes; it signs every delivery, so it is kept, never logged.
    secret        text NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/=]{20,}$'),
    event_types   text[] NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    disabled_at   timestamptz,
    disabled_reason text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_business ON webhook_endpoints (business_id);

CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    -- The exact bytes signed and sent (a retry and a replay send the same body and id).
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code int,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Retries run for 24 h from here: the delivery's creation, or the owner's replay.
    window_started_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id DESC);

-- Every attempt, as the log the API shows: when, the receiver's status or the error, how long.
CREATE TABLE webhook_delivery_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   bigint NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    status_code   int,
    error         text,
    duration_ms   int NOT NULL DEFAULT 0
);
CREATE INDEX webhook_delivery_attempts_delivery ON webhook_delivery_attempts (delivery_id, id);
