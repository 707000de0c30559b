"""pm-pipeline: post-migration reconciliation, integrity, rollback, reporting and monitoring."""

__version__ = "0.1.0"
