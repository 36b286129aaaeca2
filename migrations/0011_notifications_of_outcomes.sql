-- Step 16: a notification says how something ended, one per outcome (a transcript ready, speakers recognised, a
-- summary ready, a failure); a job's steps are progress, announced live and never stored (repo/notifications.py).
-- Which kinds exist is declared once, in repo/notifications.py, as task types are in the job registry (0009): the
-- column keeps a shape only. Preferences for the kinds no longer sent go; the steps earlier uploads stored as
-- notifications are marked read, so the count of new ones counts outcomes.
-- depends: 0010_processing_choices

ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind ~ '^[a-z]{1,40}$');
ALTER TABLE notification_preferences DROP CONSTRAINT notification_preferences_kind_check;
ALTER TABLE notification_preferences ADD CONSTRAINT notification_preferences_kind_check
    CHECK (kind ~ '^[a-z]{1,40}$');
DELETE FROM notification_preferences WHERE kind IN ('upload', 'processing');
UPDATE notifications SET read_at = now() WHERE read_at IS NULL AND kind IN ('upload', 'processing');
