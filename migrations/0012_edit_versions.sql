-- Step 17: concurrent edits lose nothing. A segment and a file's editable fields carry an integer version, bumped
-- by the user's edit in the same UPDATE that checks it (`... WHERE version = %(if_version)s`): a second editor
-- who read an older version gets 412 Precondition Failed instead of overwriting the first one's text. Not
-- updated_at (two edits within a clock tick compare equal) and not xmin (any worker update of the row, e.g.
-- progress, changes it, so a title edit would fail while the file is processed).
-- depends: 0011_notifications_of_outcomes

ALTER TABLE media_files ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);
ALTER TABLE transcript_segments ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);
