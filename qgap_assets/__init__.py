"""qgap: a Dagster code location that turns the intraday-tsmom autonomy loop into gated,
ledgered, reproducible promotion decisions.

Layering (imports only flow downward): data -> research -> promotion -> execution, with
``ledger`` as the sink every stage writes to and ``advisory`` as a side input. ``defs`` is the
only package that imports Dagster.
"""

from qgap_assets.memory import tune_allocator

__version__ = "0.1.0"
ALLOCATOR_TUNED = tune_allocator()  # see qgap_assets/memory.py
