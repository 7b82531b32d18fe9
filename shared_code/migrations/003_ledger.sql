-- Usage logger and credit ledger. Money is integer micro-USD.

ALTER TABLE businesses
    ADD COLUMN balance_micro       bigint NOT NULL DEFAULT 0,
    -- Set when the balance fell below the low-credit threshold; cleared by a top-up above it.
    ADD COLUMN credits_low_since   timestamptz;

-- One row per usage event id, priced at ingestion (never from the event).
CREATE TABLE usage_events (
    event_id        uuid PRIMARY KEY,
    -- No foreign key, on purpose: the only writer (ledger.ingest) locks the batch's businesses
    -- and keeps only rows whose business it locked, in the same statement; a per-row RI trigger
    -- (a key-share lock on the business for every event) was ~40% of the ingest's time.
    business_id     uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('ai', 'sms')),
    model           text,
    input_tokens    int  CHECK (input_tokens >= 0),
    cached_tokens   int  CHECK (cached_tokens >= 0),
    output_tokens   int  CHECK (output_tokens >= 0),
    segments        int  CHECK (segments >= 0),
    latency_ms      int,
    conversation_id uuid,
    reservation_id  uuid,
    batch_id        uuid NOT NULL,          -- the ingest that debited it (see credit_ledger)
    cost_micro      bigint NOT NULL CHECK (cost_micro >= 0),
    priced_by       text NOT NULL,          -- genai-prices | fallback | sms-rate
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (cached_tokens IS NULL OR input_tokens IS NULL OR cached_tokens <= input_tokens)
);
CREATE INDEX usage_events_business_time ON usage_events (business_id, occurred_at);

-- Every balance change, once per idempotency key; balance_after is the balance it produced.
-- Usage is debited once per business per ingest batch ("usage:<batch_id>:<business_id>"):
-- only events the batch newly inserted count, so a replayed event never debits again.
CREATE TABLE credit_ledger (
    id                   bigserial PRIMARY KEY,
    business_id          uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    idempotency_key      text NOT NULL UNIQUE,
    kind                 text NOT NULL CHECK (kind IN ('usage', 'topup', 'adjustment', 'reward')),
    amount_micro         bigint NOT NULL CHECK (amount_micro <> 0),
    balance_after_micro  bigint NOT NULL,
    usage_batch_id       uuid,
    usage_events         int CHECK (usage_events > 0),
    note                 text,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_ledger_business ON credit_ledger (business_id, id DESC);

-- Held before a model call, settled by its usage event, otherwise expired by time: "reserved"
-- is always derived from the live rows, never a counter that could drift.
CREATE TABLE credit_reservations (
    id            uuid PRIMARY KEY,
    business_id   uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    amount_micro  bigint NOT NULL CHECK (amount_micro > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    closed_at     timestamptz                  -- settled by usage or released unused
);
CREATE INDEX credit_reservations_live ON credit_reservations (business_id, expires_at)
    WHERE closed_at IS NULL;
