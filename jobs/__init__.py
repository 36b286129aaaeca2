"""Background work as both sides see it: the queues, the job references and enqueueing (the transactional outbox).

`web/` enqueues and `workers/` runs; both import this package and never each other. PostgreSQL is the source of
truth for work: a job is a `tasks` row written in the caller's transaction, and Redis only carries it.
"""
