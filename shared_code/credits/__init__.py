"""Money: the ledger, pricing, usage (store and batches) and streak rewards."""
