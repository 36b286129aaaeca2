-- Undo 0006: URL imports and import origins go; download tasks go with their rows (a CHECK cannot hold them).
DROP TABLE IF EXISTS import_origins;
DROP TABLE IF EXISTS url_imports;
DELETE FROM tasks WHERE task_type = 'download';
ALTER TABLE tasks DROP CONSTRAINT tasks_task_type_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_task_type_check
    CHECK (task_type IN ('transcription', 'summarization', 'analytics', 'maintenance'));
