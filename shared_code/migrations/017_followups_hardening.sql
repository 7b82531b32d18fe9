-- Issue 15, hardened after review: constraints the code already keeps, made the database's, and
-- what the follow-up timer and the webhook delivery timer need to bound their work.

-- A value goes only with a won lead (the API and the owner's "#12 won 450" never write
-- another; a different outcome clears it).
ALTER TABLE conversations
    ADD CONSTRAINT conversations_outcome_value_won
        CHECK (outcome_value_micro IS NULL OR outcome = 'won');
ALTER TABLE conversation_outcomes
    ADD CONSTRAINT conversation_outcomes_value_won
        CHECK (value_micro IS NULL OR outcome = 'won');

-- An endpoint subscribes to at least one event, each one we send (crm_webhooks.endpoints).
ALTER TABLE webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_event_types_known
        CHECK (cardinality(event_types) > 0
               AND event_types <@ ARRAY['call.missed', 'lead.qualified', 'voicemail.received',
                                        'conversation.escalated',
                                        'conversation.outcome_recorded']::text[]);

-- A follow-up step whose handling raised (not a refusal of the sending rules): counted, tried
-- again a little later each time, given up after a few (messaging.followups.MAX_STEP_ERRORS).
ALTER TABLE followup_tasks ADD COLUMN errors int NOT NULL DEFAULT 0;

-- The delivery timer claims a few due deliveries per endpoint (one at a time each).
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
