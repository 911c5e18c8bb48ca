"""Values worked out once per DataFrame plan in a Spark application: a refit asks the driver nothing twice.

Staging takes the same plan to hold the same rows (it reuses the folder it
staged for the same plan), and so do the input checks and staging's
partition count, which each cost a Spark job or a plan compilation on the
driver. A :class:`PlanMemo` keeps the latest values, keyed by the application,
the plan's semantic hash and what was asked of it.

Example::

    >>> counts = PlanMemo(kept=256)
    >>> counts.get(df, "partitions", lambda: df.rdd.getNumPartitions())   # compiles the plan
    2
    >>> counts.get(df.select("*"), "partitions", lambda: df.rdd.getNumPartitions())   # the same plan: kept
    2
"""
from ..memo import Memo


class PlanMemo:
    """The latest ``kept`` values of ``compute()`` by (application, plan, ``what``); safe to share between threads."""

    def __init__(self, kept):
        self._memo = Memo(full=lambda values: len(values) > kept)

    def get(self, df, what, compute):
        """The value kept for ``df``'s plan and ``what``, else ``compute()`` (kept, unless it raises)."""
        return self._memo.get((df.sparkSession.sparkContext.applicationId, df.semanticHash(), what), compute)
