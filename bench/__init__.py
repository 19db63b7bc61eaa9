"""Programs that measure or exercise the service rather than test it, each run by a make target
(`make bench`: the benchmarks, which report and never fail on a time)."""
