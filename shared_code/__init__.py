"""NeverMiss shared code: settings, adapters (db, cache, queues, events, Twilio) and domain rules.

Trigger adapters in `functions/` call plain async functions from here; tests call them directly.
"""
