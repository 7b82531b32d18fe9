"""Outbound webhooks to the owner's CRM (Standard Webhooks): endpoints, signed deliveries."""
