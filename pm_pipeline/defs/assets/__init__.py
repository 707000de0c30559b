"""Dagster assets: per table, its observations, reconciliation, schema, integrity and verdict
(tables.py); the migration report (reports.py); the performance workload (performance.py)."""
