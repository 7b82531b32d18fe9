-- A voicemail's row keeps what its recording callback said (the RecordingUrl especially), so a
-- task lost to an outage can be rebuilt whole by the stalled sweep, from the row alone.
ALTER TABLE voicemails ADD COLUMN recording_url text;

-- The stalled sweep (every minute) looks for rows whose work stopped short: not archived, not
-- deleted at Twilio, not alerted, or owed a transcript.
CREATE INDEX voicemails_unfinished ON voicemails (received_at)
    WHERE purged_at IS NULL
      AND (archived_at IS NULL OR twilio_deleted_at IS NULL OR alerted_at IS NULL
           OR transcription_status = 'pending');
