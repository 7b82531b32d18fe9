-- Round 2 calls: a human check on the owner's leg, team phones, voicemail.

ALTER TABLE businesses
    -- How a leg that "completed" is told apart from the owner's carrier voicemail: a spoken
    -- "press 1" (press_key), answering-machine detection (amd), or nothing (none).
    ADD COLUMN answer_check text NOT NULL DEFAULT 'press_key'
        CHECK (answer_check IN ('press_key', 'amd', 'none')),
    -- [{"name", "phone", "alerts"}]: rung with the owner (Twilio rings at most 10 numbers at once).
    ADD COLUMN team_phones  jsonb NOT NULL DEFAULT '[]'::jsonb
        CHECK (jsonb_typeof(team_phones) = 'array' AND jsonb_array_length(team_phones) <= 10);

-- One row per dialled leg (the owner's or a team phone's) that a person accepted ("press 1") or
-- that answering-machine detection classified. Keyed by the leg's CallSid; the parent is the
-- caller's call, which `calls` is keyed by.
CREATE TABLE call_legs (
    leg_sid          text PRIMARY KEY,
    parent_call_sid  text NOT NULL,
    phone            text,
    accepted_at      timestamptz,
    answered_by      text,              -- AMD: human, machine_start, machine_end_beep, fax, ...
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_legs_parent ON call_legs (parent_call_sid);

ALTER TABLE calls
    ADD COLUMN answer_check text,       -- the business's check when the call was dialled
    ADD COLUMN accepted     boolean,    -- a person pressed 1 on the bridged leg
    ADD COLUMN leg_sid      text,       -- DialCallSid: the leg that was answered, if any
    ADD COLUMN greeting     text;       -- what the missed caller heard: text_soon, text_morning, no_text

-- A customer's voicemail is a message in the conversation, with its recording.
ALTER TABLE messages
    ADD COLUMN kind text NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'voicemail'));

-- One row per Twilio RecordingSid: each step (archive, delete at Twilio, transcribe, add to the
-- conversation and alert) is stamped when done, so a redelivery resumes where the last stopped
-- and never repeats a finished step. `lease_until` keeps concurrent deliveries from working the
-- same recording at once.
CREATE TABLE voicemails (
    recording_sid          text PRIMARY KEY,
    call_sid               text NOT NULL,
    business_id            uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    caller                 text NOT NULL,
    duration_seconds       int NOT NULL DEFAULT 0 CHECK (duration_seconds >= 0),
    blob_name              text,
    content_type           text,
    size_bytes             int CHECK (size_bytes >= 0),
    archived_at            timestamptz,
    twilio_deleted_at      timestamptz,
    transcript             text,
    transcription_status   text NOT NULL DEFAULT 'pending'
        CHECK (transcription_status IN ('pending', 'done', 'failed', 'none')),
    transcription_attempts int NOT NULL DEFAULT 0,
    conversation_id        uuid REFERENCES conversations(id) ON DELETE SET NULL,
    message_id             bigint REFERENCES messages(id) ON DELETE SET NULL,
    alerted_at             timestamptz,
    lease_until            timestamptz,
    received_at            timestamptz NOT NULL DEFAULT now(),
    purged_at              timestamptz
);
CREATE INDEX voicemails_business_recent ON voicemails (business_id, received_at DESC);
CREATE INDEX voicemails_to_purge ON voicemails (received_at)
    WHERE purged_at IS NULL AND archived_at IS NOT NULL;

-- Voicemail transcription is usage too, priced per audio second.
ALTER TABLE usage_events DROP CONSTRAINT usage_events_kind_check;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_kind_check
    CHECK (kind IN ('ai', 'sms', 'transcription'));
ALTER TABLE usage_events ADD COLUMN audio_seconds int CHECK (audio_seconds >= 0);
