"""The organisation: units and branches (units), people and their membership (people), accounts and
passwords (accounts), role assignments (roles), API tokens (tokens), and the `Principal` the
permission rules see for a user (principals); common holds the helpers they share."""
