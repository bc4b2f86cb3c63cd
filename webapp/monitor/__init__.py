"""The supervisors' monitor: instances by step, overdue and failed work, instance pages, charts."""
