"""Layouts: where code, data and heap blocks land, as a measured factor.

`draw` draws a layout (a code pad, link order, data and TLS pads, a Mid chunk offset, an
environment pad) from a recorded seed; `builds` relinks a timed build under it;
`cachesets` says which cache sets the blocks of a workload fall in.
"""
