"""The supervision board: server-rendered, read-only pages for the town's supervision team.

``ledger serve`` mounts it under ``/board`` (:func:`ledger.web.app.mount`): Jinja2 templates
over the read models and queries the command line and the feed already use, one stylesheet,
and one small script that follows the event stream to refresh the town overview. Access
follows the feed's scoped tokens; a browser signs in once with its token and gets a signed
session cookie (:mod:`ledger.web.auth`). See docs/web.md.
"""
