-- Undo 0015: passages and their vectors go (they are derived: embedding the transcripts again recreates them). The
-- vector extension stays if anything else uses it.
DROP FUNCTION ensure_passage_vectors();
DROP TABLE passages;
DO $$
BEGIN
    DROP EXTENSION IF EXISTS vector;
EXCEPTION WHEN dependent_objects_still_exist THEN
    NULL;
END
$$;
