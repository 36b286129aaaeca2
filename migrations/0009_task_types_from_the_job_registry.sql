-- Step 15: which kinds of job exist is declared once, in the job registry (jobs/registry.py), not listed again in
-- the schema: a kind is one declaration plus its function and its subject's SQL, and a newer release's kind needs no
-- migration. The column keeps a shape: a lowercase name, as every kind's and every imported task's type is.
-- depends: 0008_file_warnings

ALTER TABLE tasks DROP CONSTRAINT tasks_task_type_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_task_type_check CHECK (task_type ~ '^[a-z][a-z0-9_]{0,49}$');
