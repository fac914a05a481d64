"""Benchmarks (`make bench`): each prints its figures and a ratio against a baseline run in
the same process, so the numbers compare on any machine. Targets live in bench/README.md."""
