-- name: vector_available :scalar
-- Whether this database has pgvector: search by meaning needs it (README: Search by meaning).
SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector');
