"""No business words: settings, database, the unit of work, cache, queues, events (outbox),
Twilio and OpenAI clients, observability, phone numbers."""
