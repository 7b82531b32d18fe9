-- The owner web inbox (issue 14): one-time login codes texted to the owner's (or a team) phone,
-- the sessions they open, and the counters that limit guessing. Nothing secret is stored in the
-- clear: a code is kept as HMAC(LINK_SIGNING_SECRET, phone:code), a session token as SHA-256.

-- One row per code asked for. A number that may log in nowhere gets a row too (with no business
-- and a code nobody was sent), so asking and guessing behave the same for every number.
CREATE TABLE web_login_codes (
    id           bigserial PRIMARY KEY,
    phone        text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    business_id  uuid REFERENCES businesses(id) ON DELETE CASCADE,
    code_hash    bytea NOT NULL CHECK (octet_length(code_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Codes live at most 10 minutes, whatever the app asks for.
    expires_at   timestamptz NOT NULL,
    -- Wrong guesses at this code: a sixth is refused (the code is spent at five).
    attempts     int NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 5),
    -- Single use: set when the code opens a session, or when a newer code replaces it.
    used_at      timestamptz,
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '10 minutes')
);
CREATE INDEX web_login_codes_live ON web_login_codes (phone, created_at DESC)
    WHERE used_at IS NULL;
CREATE INDEX web_login_codes_age ON web_login_codes (created_at);

-- Fixed-window counters: codes asked for and wrong guesses, per phone and per client address.
CREATE TABLE web_login_limits (
    scope         text NOT NULL
        CHECK (scope IN ('code_phone', 'code_ip', 'guess_phone', 'guess_ip')),
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 100),
    window_start  timestamptz NOT NULL,
    hits          int NOT NULL DEFAULT 0 CHECK (hits >= 0),
    PRIMARY KEY (scope, subject, window_start)
);

-- A signed-in browser. The cookie holds a random token; only its SHA-256 is here. Revoked by
-- logging out (one) or "log out everywhere" (every session of the phone); dead after an idle
-- week or 30 days, or as soon as the phone is no longer the owner's or on the team.
CREATE TABLE web_sessions (
    id            uuid PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    business_id   uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    phone         text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    user_agent    text NOT NULL DEFAULT '' CHECK (length(user_agent) <= 300),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '90 days')
);
CREATE INDEX web_sessions_phone ON web_sessions (phone) WHERE revoked_at IS NULL;
