"""Program workloads: a real program (an argv of workloads.yaml) run with the allocator preloaded.

reportgen.measuring.programs.runner runs one: the allocator's preload library in LD_PRELOAD (a project
variant's `preload-timed` build, a peer's installed library, nothing for glibc), the program's
wall and CPU time and its memory from its own rusage, its exit status and output checked against
the baseline's.  A session of kinds.bench drives ProgramServer exactly as it drives a driver
loop's LoopServer: one run of the program is one timed loop.
"""
