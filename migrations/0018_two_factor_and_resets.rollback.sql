-- Undo 0018: second factors, recovery codes, reset links, the instance's settings and sessions' uuids go.
ALTER TABLE auth_tokens DROP COLUMN uuid;
DROP TABLE instance_settings;
DROP TABLE password_resets;
DROP TABLE recovery_codes;
DROP TABLE user_two_factor;
