-- Undo 0023: the topics go (the tags and collections accepted from them stay: they are the file's now).
DROP TABLE file_topics;
