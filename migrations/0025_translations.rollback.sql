-- Undo 0025: the translated texts go (their runs stay in llm_runs).
DROP TABLE translated_segments;
