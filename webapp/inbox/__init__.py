"""The task inbox: every role's open tasks, claim and release, reassignment by the party office."""
