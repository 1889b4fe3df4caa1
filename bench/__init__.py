"""The benchmark of the alert pipeline (`make bench`, `make bench-quick`); see docs/PERFORMANCE.md."""
