"""reportgen: the allocator investigation lab.

The folders read as the pipeline: what users declare (`phases`, `variants`; workloads in
`measuring.workloads`), `build` (libraries by content hash, `revisions` for past commits),
`measuring/` (workloads, the measurement child, the measurement kinds, layouts, programs),
`store` and `results` (records on disk), `plan` (what a phase needs, measured when missing),
the analysis (`stats`, `hypotheses`, `ceilings`, `noise`), `render` and `site` (the pages and
the mkdocs site), `publish` (the main job); `cli` and `commands/` are a thin layer over them.
"""
__version__ = "0.1.0"
