"""Calling other people's servers: the SSRF guard (addresses) and what makes a call safe to retry and to report
(retries). Used by URL imports, LLM clients and remote speech engines; imports nothing of the project."""
