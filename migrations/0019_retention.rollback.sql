-- Undo 0019: retention policies, legal holds and notices go.
DROP TABLE retention_notices;
DROP TABLE legal_holds;
ALTER TABLE collections DROP COLUMN retention_days;
DROP TABLE retention_settings;
