-- Undo 0013: files are their owner's (and admins') alone again.
DROP FUNCTION shared_files(bigint);
DROP TABLE public_links;
DROP TABLE shares;
DROP TABLE group_members;
DROP TABLE groups;
