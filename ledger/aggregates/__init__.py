"""Aggregates: the consistency boundaries of the ledger, one module each.

Every aggregate id is ``uuid5`` of a readable key (``community:ZQ-001``), so commands and people
use readable keys. Every event carries the audit envelope as its ``envelope`` field.
"""
