"""Command groups of the domain modules; each module attaches its commands to ``ledger.cli.cli``."""
