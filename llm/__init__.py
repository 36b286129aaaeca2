"""Clients of the LLM providers (OpenAI-compatible, Anthropic, Ollama): used by the web (testing a configuration)
and by the summary worker, so they live below both."""
