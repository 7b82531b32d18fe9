-- Streak rewards: one activity row per business and local calendar day, and an incremental
-- streak state that settlement advances one closed day at a time.

CREATE TABLE activity_days (
    business_id        uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    day                date NOT NULL,            -- calendar day in the business's zone then
    first_activity_at  timestamptz NOT NULL,
    PRIMARY KEY (business_id, day)
);

CREATE TABLE streaks (
    business_id  uuid PRIMARY KEY REFERENCES businesses(id) ON DELETE CASCADE,
    next_day     date NOT NULL,                  -- the first local day not yet settled
    current      int  NOT NULL DEFAULT 0 CHECK (current >= 0),
    longest      int  NOT NULL DEFAULT 0 CHECK (longest >= current),
    freezes      int  NOT NULL DEFAULT 0 CHECK (freezes >= 0),
    run_days     int  NOT NULL DEFAULT 0 CHECK (run_days >= 0),  -- active days toward a freeze
    settled_at   timestamptz
);
CREATE INDEX streaks_next_day ON streaks (next_day);
