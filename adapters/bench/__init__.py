"""`smsledger bench`: the hot paths (ingest, send, replay) measured beside baselines.

smsledger.adapters.bench.cli.add_bench_command registers the command; see issue 7 for the targets.
"""
