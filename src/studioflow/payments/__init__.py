"""Payments (issue 17): providers (Stripe, the offline test mode, the wallet), webhooks, the
wallet ledger, the double-entry ledger of sellers' earnings, and credit packs."""
