"""The ingestion contract every Amazon document follows, from the HTTP call to silver.

- `spec.DocumentSpec`: what a document is (API and report type, request window, lookback,
  options, silver table, natural key, lake prefix); one per document, in its domain's `spec.py`.
- `bronze`: the one bronze writer. Each document is written to the lake the moment it arrives,
  and only then is its report closed in the ledger; what is stored already is reused by a resumed
  run instead of being requested again.
- `silver`: the one silver loader's choice of documents: for each (account, day), the newest
  stored document covering it, found from the sidecars of the days asked for only.
"""
