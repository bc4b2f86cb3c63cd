"""The JSON API (/api/v1), its OpenAPI document, its reference page and the user's token page."""
