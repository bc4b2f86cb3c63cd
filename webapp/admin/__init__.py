"""The administrator's area: organisation, people, accounts, roles, roster import."""
