"""The digest contracts other modules record and recompute: table checksums over canonical rows,
whole-table digests computed in the database, and digests of files on disk.

Each module here is a pure contract: it depends on the canonical values (``canonical``) at most,
never on a check, a report or the audit log, so every layer that records a digest or checks one
uses the same definition. Importing this package imports none of its modules.

The digests defined here, one entry each (what it covers, what it guarantees, who recomputes it):

``sha256-rowsum-mod2^256`` over the row text ``pm-row-json-1``
    covers         a table's canonical values: the checksummed columns (integrity checksum
                   manifest) or every column (rollback snapshot)
    guarantees     independent of engine, driver and row order; a duplicated row counts (a sum);
                   256 bits; anyone can recompute it from the documented ``json.dumps`` text
    recomputed by  ``integrity.verify`` (a recorded manifest, one side at a time, later); the
                   reconciliation's checksum tap; rollback snapshot and restore verification
    module         :mod:`.rows`

``xor64-sql-rowhash-1``
    covers         a table's rows through the bucket pass's 60-bit row hash, with a recipe
                   (dialect, native or text hash, key count, tolerance bins) to rebuild it
    guarantees     computed inside the database, no row read into the process; 64 bits; keys
                   unique (a XOR); two sides compare only when neither has tolerance bins
    recomputed by  ``integrity.checksum.recompute`` through ``reconcile.tablesum.recompute``
    module         :mod:`.tablesum` (the contract); ``reconcile.tablesum`` (the computation)

file SHA-256 (``sha256:<hex>`` in evidence and audit records, ``sha256`` in a report set's
manifest, ``file_sha256`` in a snapshot's manifest)
    covers         one file's bytes: report-set files, evidence artifacts, snapshot Parquet
                   files, a rollback plan's signers file
    guarantees     what ``sha256sum`` prints; any changed byte changes it; equal values written
                   as other bytes digest differently
    recomputed by  ``report.report_set.verify_report_set``; ``rollback.verify.check_file`` and
                   snapshot verification; anyone, with ``sha256sum``
    module         :mod:`.files` (``file_sha256``)

tree SHA-256 (``sha256:<hex>`` of a folder in an audit ``report.written`` record)
    covers         a folder's files: each relative path and file SHA-256, in path order
    guarantees     any file added, removed, renamed or changed changes it
    recomputed by  anyone, from the folder
    module         :mod:`.files` (``tree_sha256``)

Siblings that stay where they are, because each depends on the internals of the module that owns it
or on a layer this package sits below:

- Bucket checksums (per key-hash bucket: row count and XOR of the 60-bit row hash):
  :mod:`pm_pipeline.core.reconcile.bucket`, with the row hash's SQL in
  :mod:`pm_pipeline.core.canonical.sqltext` and :mod:`pm_pipeline.core.reconcile.sqlhash`. Compared
  side against side within one run, never recorded; ``xor64-sql-rowhash-1`` is their XOR.
- Snapshot table checksums and row digests (``iter_digests``, ``digest_batches``):
  :mod:`pm_pipeline.core.rollback.checksum`. The ``pm-row-json-1`` sum of :mod:`.rows` over every
  column, floats included (a restore must be exact), with the table planned against itself by the
  reconciliation's planner. :mod:`pm_pipeline.core.rollback.risk` matches rows by 128-bit BLAKE2b
  hashes of their keys and digest prefixes, in memory only.
- In-database copy fingerprint: :mod:`pm_pipeline.core.rollback.dbcopy` (``fingerprint_sql``). Row
  count and the sums of the two 64-bit halves of ``md5(t::text)``: PostgreSQL's own row text, so it
  compares a copy only with itself, cheaply, inside the restore transaction.
- Rollback plan checksum: :mod:`pm_pipeline.core.rollback.plan`. SHA-256 of the plan's JSON
  (``sort_keys``): snapshot, table checksums and file digests, masked target, steps, signers file.
  It is what an approval signs, so it follows the plan's own structure.
- Audit chain: :mod:`pm_pipeline.core.security.audit` (``_digest``, modes ``sha256`` and
  ``hmac-sha256``). Each record's canonical JSON (without its ``hash``) chained to the previous
  record's hash, keyed when a key is set; verified by :mod:`pm_pipeline.core.security.chain`. Keyed
  and format-specific to the log; security imports none of the checks.
- Spec checksum: :mod:`pm_pipeline.core.config.loader` (``spec_checksum``). SHA-256 of the spec
  file's bytes, equal to :func:`.files.file_sha256` of it; the config layer sits below this package.
- Query answers: :mod:`pm_pipeline.core.perf.results`. Row count, a 128-bit multiset sum and a
  SHA-256 sequence chain of each answer row, comparing both sides' answers in constant memory;
  index advice is approved by the SHA-256 of its target and statements
  (:mod:`pm_pipeline.core.perf.apply`).
- Drift fingerprints: :mod:`pm_pipeline.core.monitor.fingerprint`. Whatever hash the engine has,
  compared only with an earlier fingerprint of the same table on the same engine.

Hashes used only as names or keys, not as evidence: the reconciliation settings key
(:mod:`pm_pipeline.core.reconcile.combine`), source tags (:mod:`pm_pipeline.core.security.tenants`),
helper database names (:mod:`pm_pipeline.core.rollback.swap`), captured statement names
(:mod:`pm_pipeline.core.perf.capture`), keyed value masks (:mod:`pm_pipeline.core.security.redaction`,
keyed by :mod:`pm_pipeline.core.report.build`).
"""
