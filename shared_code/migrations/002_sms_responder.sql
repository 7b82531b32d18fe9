-- SMS responder: business profile for the assistant, conversation state for replies, leads and
-- owner takeover, inbound media, delivery status.

ALTER TABLE businesses
    ADD COLUMN services      text NOT NULL DEFAULT '',
    ADD COLUMN service_area  text NOT NULL DEFAULT '',
    ADD COLUMN faq           jsonb NOT NULL DEFAULT '[]'::jsonb;

ALTER TABLE conversations
    -- A short number per business so the owner can address a conversation by SMS ("#12 ...").
    ADD COLUMN ref                    int,
    ADD COLUMN lead                   jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN lead_qualified_at      timestamptz,
    ADD COLUMN escalated_at           timestamptz,
    ADD COLUMN escalation_reason      text,
    ADD COLUMN owner_active_at        timestamptz,
    -- The newest inbound message already answered: replies cover everything after it.
    ADD COLUMN replied_through_id     bigint NOT NULL DEFAULT 0,
    -- Lease held while one worker composes a reply (so replies never interleave).
    ADD COLUMN reply_lease_token      uuid,
    ADD COLUMN reply_lease_until      timestamptz,
    ADD COLUMN auto_paused_reason     text;

CREATE TABLE conversation_refs (
    business_id uuid PRIMARY KEY REFERENCES businesses(id) ON DELETE CASCADE,
    last_ref    int NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX conversations_ref ON conversations (business_id, ref);

-- Every conversation gets the business's next ref from one guarded counter row.
CREATE FUNCTION assign_conversation_ref() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_refs (business_id, last_ref) VALUES (NEW.business_id, 1)
    ON CONFLICT (business_id) DO UPDATE SET last_ref = conversation_refs.last_ref + 1
    RETURNING last_ref INTO NEW.ref;
    RETURN NEW;
END $$;
CREATE TRIGGER conversations_ref BEFORE INSERT ON conversations
    FOR EACH ROW WHEN (NEW.ref IS NULL) EXECUTE FUNCTION assign_conversation_ref();

ALTER TABLE messages
    ADD COLUMN media         jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN automated     boolean NOT NULL DEFAULT false,
    ADD COLUMN received_at   timestamptz,
    ADD COLUMN status_at     timestamptz;
CREATE INDEX messages_automated_recent ON messages (conversation_id, created_at)
    WHERE automated;

-- Inbound texts that are not part of a customer conversation (owner commands, keywords from
-- unknown contacts) are still recorded once per MessageSid.
CREATE TABLE inbound_receipts (
    message_sid  text PRIMARY KEY,
    business_id  uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    from_number  text NOT NULL,
    kind         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Owner alerts are texts too: their delivery status is recorded by MessageSid.
ALTER TABLE notifications_sent ADD COLUMN status text;
