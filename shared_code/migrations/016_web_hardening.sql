-- Web sign-in hardening (issue 14 review). The sign-in counters get scopes of their own:
-- guesses at one phone from one address (`guess_phone_ip`: a stranger's wrong guesses from
-- elsewhere no longer lock the owner out), codes per phone per day and per business per day.
-- `guess_phone` is now the larger hourly cap on guesses at a phone from everywhere.
ALTER TABLE web_login_limits DROP CONSTRAINT web_login_limits_scope_check;
ALTER TABLE web_login_limits ADD CONSTRAINT web_login_limits_scope_check
    CHECK (scope IN ('code_ip', 'code_phone', 'code_phone_day', 'code_business_day',
                     'guess_ip', 'guess_phone_ip', 'guess_phone'));
-- Counts of the old 15-minute `guess_phone` windows don't belong in the new hourly ones.
DELETE FROM web_login_limits WHERE scope = 'guess_phone';

-- A session revoked because its phone left the team stays revoked; the lookup of a session by
-- its business (to revoke the removed phones' sessions when the team changes) uses this.
CREATE INDEX web_sessions_business ON web_sessions (business_id) WHERE revoked_at IS NULL;

-- Sign-in codes' texts were kept in the clear once sent: redact those already sent or failed.
UPDATE outbound_texts SET body = '[sign-in code]'
    WHERE kind = 'login_code' AND status IN ('sent', 'failed');
