"""Benchmarks of the license API; run them by hand, never from the test suite."""
