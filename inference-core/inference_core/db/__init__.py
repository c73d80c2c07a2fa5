"""PostgreSQL: the schema, the engine and migrations. PostgreSQL is the source of truth."""
