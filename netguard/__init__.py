"""Refusing outbound requests to the machine's own networks (SSRF): what web/ and workers/ both check."""
