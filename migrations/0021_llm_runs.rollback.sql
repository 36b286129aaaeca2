-- Undo 0021: the runs (and what later migrations hang on them), the usage ledger and the limits go.
DROP TABLE llm_token_limits;
DROP TABLE llm_usage;
DROP TABLE llm_runs;
ALTER TABLE user_llm_configurations DROP COLUMN context_tokens;
