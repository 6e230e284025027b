"""reportgen: the allocator investigation lab.

One module per pipeline stage (build, measure, store, analyse, render,
site); `cli` is a thin layer over them.
"""
__version__ = "0.1.0"
