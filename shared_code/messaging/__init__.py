"""Texts: webhooks, the responder, conversations and messages, outbound, notices, owner relay
and owner alerts."""
