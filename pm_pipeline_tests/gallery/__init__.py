"""The clean-migration gallery: correct migrations of one logical dataset, loaded for real.

``dataset`` writes the data once (tables, columns with a logical kind, deterministic rows);
``render`` turns each kind into the column type and value a standard migration tool
(pgloader-like mappings) writes on each engine, and ``load`` creates and fills the tables on
MariaDB, PostgreSQL, SQLite, DuckDB or in Parquet files. ``verify`` runs ``pm-pipeline check``
in process (``cli.main``, so the exit code is the user's), spec-less and with the spec a careful
user would write, and reads the findings JSON; ``pairs`` ties these together for one engine pair.

Each ``test_<source>_<target>`` module checks one engine pair:

* the correct migration, spec-less and with a spec, integrity on: exit code 0 and no finding of
  severity error or warning, no check that could not finish, the verdict ``pass`` (a false
  alarm is as serious as a missed defect);
* its defect twin (``defects.seed_defects``), with the spec and without one: a missing row, an
  extra row, a changed decimal, a value one hour off, a lost parent leaving an orphan, a
  truncated text, an identity never advanced past the copied ids; the verdict must be ``fail``.
  Each must be reported at its source table, source column and key, as one error (a repeat
  must name its cause, ``caused_by``), and any other error must name its cause too. DuckDB
  enforces foreign keys on load, so its twins lose no parent; a SQLite rowid cannot lag. The findings JSON of every run stays in the test's ``tmp_path`` for inspection.

What the data holds: tinyint(1) flags -> boolean, SET -> text[], ENUM -> a PostgreSQL enum and
ENUM -> varchar + CHECK, YEAR -> an integer domain, unsigned integers -> bigint, zero dates ->
NULL, DATETIME, DATETIME(6) with microseconds and TIMESTAMP (equal in UTC), dates around the
epoch and a leap day, DECIMAL(12,2), DOUBLE with last-digit noise in the target, JSON (key order
and spacing normalised by jsonb), BLOB, text with accents and emoji (empty, multi-line, quoted),
PascalCase -> snake_case table and column names, a composite key, foreign keys (one to a renamed
parent key), unique constraints, column defaults (1 -> true, enum labels, CURRENT_TIMESTAMP),
identities and sequences restarted past max(id), SQLite declared types such as
``SMALLINT UNSIGNED``, ``VARCHAR(40)`` and ``DATETIME``. Where a source engine has no such type
(SQLite and Parquet have no ENUM, SET or YEAR) the column takes the type that engine would really
hold, and a PostgreSQL source already has the snake_case names.
"""
