"""The command models of each domain, one module per domain.

The command base, the shared field types and the JSON Lines codec are the kernel's
(:mod:`ledger.kernel.command`); each module here declares its domain's commands with
``@register``, and the application imports a module when a command of its types comes in
(:mod:`ledger.domains`).
"""
