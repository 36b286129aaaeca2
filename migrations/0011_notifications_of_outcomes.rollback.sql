-- Undo 0012: back to the listed kinds; notifications and preferences of kinds declared since cannot stay.
DELETE FROM notifications WHERE kind NOT IN ('upload', 'processing', 'transcription', 'summary', 'error', 'system');
DELETE FROM notification_preferences
WHERE kind NOT IN ('upload', 'processing', 'transcription', 'summary', 'error', 'system');
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('upload', 'processing', 'transcription', 'summary', 'error', 'system'));
ALTER TABLE notification_preferences DROP CONSTRAINT notification_preferences_kind_check;
ALTER TABLE notification_preferences ADD CONSTRAINT notification_preferences_kind_check
    CHECK (kind IN ('upload', 'processing', 'transcription', 'summary', 'error', 'system'));
