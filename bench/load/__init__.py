"""realdid-load: a load generator for a running RealDID deployment (issue 12, item 1).

Simulated residents enroll with the identity authority, log in to relying parties,
resolve DIDs and update their DIDs over HTTP, in configured proportions, open loop at a
target rate or closed loop at a fixed concurrency, from several client processes; the
summary and the JSON results give throughput, latency percentiles and errors per kind.

Modules: :mod:`.cli` (the commands), :mod:`.prepare` (the pool of enrolled residents),
:mod:`.pool` (keys, register rows, the state file), :mod:`.protocol` (the HTTP steps, from
the library's wallet-side functions), :mod:`.worker` (one client process and its
schedule), :mod:`.histogram` (mergeable latency histograms), :mod:`.mix` (the mix and
durations), :mod:`.report` (results file, summary, progress). Entry point:
``bench/load/realdid_load.py``; manual: docs/load.md.
"""
