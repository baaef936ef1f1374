"""The kernel: shared infrastructure every layer may use, importing nothing above it.

The command base and its JSON Lines codec (:mod:`.command`), errors, configuration, the one
write transaction (:mod:`.writer`) and the tables (:mod:`.store`), the transcoder, the event
log reader, the authority matrix and posts, privacy (crypto-shredding), labels, and the narrow
interfaces the lower layers type against (:mod:`.ports`). The import contracts in
``pyproject.toml`` keep it from importing any aggregate, projection, handler, the application,
the command line or HTTP code.
"""
