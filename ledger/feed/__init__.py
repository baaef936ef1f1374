"""The event feed for other services: HTTP pages and Server-Sent Events over the global log,
query endpoints, and a subscriber client that processes every event exactly once.

- :mod:`ledger.feed.app`: ``create_app(ledger_or_url)``, the FastAPI application.
- :mod:`ledger.feed.queries`: query routers (status, roster, history, …); a domain adds its
  own module there with ``@query_router``.
- :mod:`ledger.feed.client`: :class:`~ledger.feed.client.Subscriber`.

The public event shape is schema ``ledger-event/1`` (see ``docs/feed.md``).
"""

EVENT_SCHEMA = "ledger-event/1"
PAGE_SCHEMA = "ledger-event-page/1"
