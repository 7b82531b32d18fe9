-- Every business has its streak from the moment it exists, starting on its local day of
-- signup, so settlement never looks for businesses without one (that anti-join of every
-- business against every streak cost each hourly run half a second per million businesses).
-- A load that inserts businesses with triggers off (session_replication_role = replica, a
-- restore with --disable-triggers) must insert their streaks too, as bench/streaks does.
CREATE FUNCTION businesses_enrol_streak() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO streaks (business_id, next_day, due_at)
    SELECT n.id, d.day, (d.day + 1)::timestamp AT TIME ZONE n.time_zone
    FROM new_businesses n, LATERAL (SELECT (n.created_at AT TIME ZONE n.time_zone)::date AS day) d
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER businesses_enrol_streak
    AFTER INSERT ON businesses REFERENCING NEW TABLE AS new_businesses
    FOR EACH STATEMENT EXECUTE FUNCTION businesses_enrol_streak();

INSERT INTO streaks (business_id, next_day, due_at)
SELECT b.id, d.day, (d.day + 1)::timestamp AT TIME ZONE b.time_zone
FROM businesses b, LATERAL (SELECT (b.created_at AT TIME ZONE b.time_zone)::date AS day) d
ON CONFLICT DO NOTHING;
