"""Read-model stores: the ReadStore port in memory, on SQLite and on PostgreSQL."""
