"""ozon-sync test suite (a package so test support modules import as `tests.<name>`)."""
