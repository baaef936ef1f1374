"""Event-sourced governance ledger for Zhuanqiao town's "1+3+N+X" community governance.

Every governance fact enters through :meth:`ledger.application.GovernanceLedger.execute`
as an immutable, attributed event; read models are rebuilt from those events.
"""

__version__ = "0.1.0"
