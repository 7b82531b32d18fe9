"""Businesses: the store, hours, templates, and contacts (what we know of a phone number)."""
