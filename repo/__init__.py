"""The raw-SQL repository layer: pool, transactions, named queries, repositories."""
