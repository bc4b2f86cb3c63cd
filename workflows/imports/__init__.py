"""Imports of what a party office keeps in Excel: the member roster (花名册)."""
