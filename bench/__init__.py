"""Side-by-side benchmarks that print tables; see bench/README.md."""
