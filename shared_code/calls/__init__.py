"""Calls: voice webhooks, classification and the missed-call handler."""
