-- Undo 0016: the asked questions and their answers go with their table.
DROP TABLE questions;
