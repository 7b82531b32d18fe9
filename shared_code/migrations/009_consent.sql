-- Consent per text-back: the record that a caller reached the business and was told we'd text
-- them ("we'll text you in a moment"), written in the transaction that decides the text-back,
-- one row per call. `consented_at` is when the call reached us; `greeting_version` is a short
-- hash of the greeting text the caller heard (NULL when our greeting was not played: a number
-- that rings without forwarding reports its calls by status callback). Not tied to `calls`
-- by a foreign key: the consent is an audit record and must outlive any clean-up of calls.
CREATE TABLE text_back_consents (
    call_sid          text PRIMARY KEY,
    business_id       uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    caller            text NOT NULL,
    consented_at      timestamptz NOT NULL,
    greeting_version  text CHECK (greeting_version ~ '^[0-9a-f]{12}$'),
    recorded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX text_back_consents_by_caller
    ON text_back_consents (business_id, caller, consented_at DESC);

-- A number Twilio reported as unable to take our texts (30004 blocked by the recipient,
-- 30005 unknown handset, 21211 invalid): nothing is texted to it again, until the number
-- texts us itself (a working handset that wants an answer).
ALTER TABLE contacts
    ADD COLUMN undeliverable_at    timestamptz,
    ADD COLUMN undeliverable_code  int;

-- The text-back is suppressed for such a number like for a landline, and while the business's
-- automated texts are paused (a sender-configuration refusal, migration 007).
ALTER TABLE calls DROP CONSTRAINT calls_text_back_status_check;
ALTER TABLE calls ADD CONSTRAINT calls_text_back_status_check CHECK (text_back_status IN (
    'pending', 'held', 'sent', 'not_missed', 'suppressed_own_number', 'suppressed_blocked',
    'suppressed_opted_out', 'suppressed_landline', 'suppressed_undeliverable',
    'suppressed_sending_paused', 'suppressed_open_conversation', 'suppressed_cooldown',
    'suppressed_invalid_number'));
