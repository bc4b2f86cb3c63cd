"""The organisation: units and branches, people and their membership, accounts and passwords, API
tokens, role assignments, and the `Principal` the permission rules see for a user."""
