"""Read-side queries: the task inbox, the monitor, rankings and the explanation of every point.
Nothing here writes."""
