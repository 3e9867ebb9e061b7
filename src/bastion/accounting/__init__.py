"""Accounting: the price catalogue, usage out of upstream answers, the spend ledger."""
