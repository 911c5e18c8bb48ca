"""What runs in the executors' Python workers, around the ranks: the probe of an executor before a launch,
the rank's command, and the rank server that forks ranks warm (and its private folder)."""
