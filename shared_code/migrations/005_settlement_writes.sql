-- Settlement: find due streaks without a join or a time-zone conversion per row, and write
-- the day's updates without touching any index.

-- When the streak's next day closes (midnight after it, in the business's zone). Settlement
-- walks streaks in id order and reads only this to find what is due, then checks the closing
-- again in the zone itself before settling, so this is a filter, never the rule. Kept true by
-- the settle that advances next_day and by the trigger below when the business changes zone.
ALTER TABLE streaks ADD COLUMN due_at timestamptz;
UPDATE streaks s SET due_at = ((s.next_day + 1)::timestamp AT TIME ZONE b.time_zone)
FROM businesses b WHERE b.id = s.business_id;
ALTER TABLE streaks ALTER COLUMN due_at SET NOT NULL;

CREATE FUNCTION streaks_follow_time_zone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE streaks SET due_at = ((next_day + 1)::timestamp AT TIME ZONE NEW.time_zone)
    WHERE business_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER businesses_time_zone_moves_streak
    AFTER UPDATE OF time_zone ON businesses
    FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION streaks_follow_time_zone();

-- Settlement rewrites every streak row once a day and the balance of every rewarded business.
-- Those updates are HOT (no index entries written, no index to bloat) when no indexed column
-- changes and the row's page has room for the new version:
-- - streaks: `next_day` changes on every settle and nothing reads through its index, so the
--   index goes; half of each page is left free for the day's new versions (the old ones are
--   pruned before the next day's settle);
-- - businesses: balances change on every usage batch and reward; a fifth of each page is left
--   free. Existing pages keep their fill until rewritten; new pages follow the setting.
DROP INDEX IF EXISTS streaks_next_day;
ALTER TABLE streaks SET (fillfactor = 50);
ALTER TABLE businesses SET (fillfactor = 80);
