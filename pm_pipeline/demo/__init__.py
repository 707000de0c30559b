"""The embedded demo: a legacy SQLite shop migrated to DuckDB with realistic defects."""
