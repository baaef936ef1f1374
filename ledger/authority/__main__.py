"""Print docs/authority.md from the matrix."""

import sys

from ledger.authority import render_markdown

sys.stdout.write(render_markdown())
