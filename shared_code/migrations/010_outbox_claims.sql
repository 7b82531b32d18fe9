-- The outbox timer claims the rows it republishes with a short lease instead of holding their
-- row locks across the Event Grid request: no HTTP call waits inside an open transaction, and
-- an overlapping run (or a worker that died mid-publish) skips or, once the lease ends, retakes
-- them. A duplicate publish is harmless: the event id is stable.
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;
