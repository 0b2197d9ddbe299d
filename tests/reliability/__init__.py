"""The reliability suite (a package so its module names never clash with tests/ and tests/runtime/)."""
