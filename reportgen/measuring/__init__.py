"""Measure stage: what is measured, how, and in which process.

- `workloads`: the workloads, read from the project's `workloads.yaml` (driver loops and programs);
- `child`: the measurement child process (one JSON request in, one result out) and the allocators
  it can load (`resolve_allocator`);
- `kinds/`: one module per kind of evidence (bench, sweep, route, header cost, counts, profile,
  coverage, placement), all recorded through one store path (`kinds.base`);
- `layouts/`: code, data and heap layouts drawn as a measured factor;
- `programs/`: real and stress programs run with the allocator preloaded;
- `native`, `callgrind`, `profile`, `coverage`, `tools`: the ctypes binding of a built library and
  the external tools (valgrind, perf, gcov) the evidence kinds run.

Imported by the measurement child, so nothing heavy is imported here.
"""
