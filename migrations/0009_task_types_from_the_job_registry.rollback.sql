-- Back to the listed task types: tasks of any other type (of kinds declared since) cannot stay.
DELETE FROM tasks WHERE task_type NOT IN ('transcription', 'summarization', 'analytics', 'maintenance', 'download');
ALTER TABLE tasks DROP CONSTRAINT tasks_task_type_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_task_type_check
    CHECK (task_type IN ('transcription', 'summarization', 'analytics', 'maintenance', 'download'));
