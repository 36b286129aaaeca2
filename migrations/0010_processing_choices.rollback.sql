-- Undo 0010: the stored choices go (files are then processed with their owners' defaults).
DROP TABLE IF EXISTS processing_choices;
