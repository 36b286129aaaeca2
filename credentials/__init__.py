"""Secrets at rest: password hashes, bearer-token digests and per-user sealed secrets (LLM api keys).

Pure functions of their inputs and the master key; the repositories store what these produce.
"""
