"""The reader's language: labels for every domain term, and messages.

Labels (:func:`t`) are domain terms in Chinese (default) and English; domain modules add their
own with :func:`add_labels`. Messages (:func:`_`) are written in English in the code and
rendered in the language chosen for this invocation or request (:func:`set_language`; the
default comes from ``LEDGER_LANG``).
"""

from __future__ import annotations

from contextvars import ContextVar

from ledger.kernel.posts import BODIES, CATALOGUE

LABELS: dict[str, tuple[str, str]] = {
    # Generic columns.
    "community": ("居民区", "community"),
    "communities": ("居民区", "communities"),
    "code": ("编号", "code"),
    "name": ("名称", "name"),
    "town": ("镇", "town"),
    "post": ("岗位", "post"),
    "posts": ("岗位", "posts"),
    "person": ("人员", "person"),
    "person_name": ("姓名", "name"),
    "since": ("起始", "since"),
    "until": ("截止", "until"),
    "also_holds": ("兼任", "also holds"),
    "appointed_by": ("任命人", "appointed by"),
    "body": ("主体", "body"),
    "role": ("职务", "role"),
    "position": ("序号", "position"),
    "version": ("版本", "version"),
    "type": ("类型", "type"),
    "event": ("事件", "event"),
    "actor": ("操作人", "actor"),
    "acting_post": ("操作岗位", "acting post"),
    "basis": ("依据", "basis"),
    "occurred_at": ("发生时间", "occurred at"),
    "recorded_at": ("记录时间", "recorded at"),
    "command_id": ("指令编号", "command id"),
    "data": ("内容", "data"),
    "line": ("行", "line"),
    "outcome": ("结果", "outcome"),
    "detail": ("说明", "detail"),
    "accepted": ("已接受", "accepted"),
    "duplicate": ("重复(未写入)", "duplicate (nothing written)"),
    "dry_run": ("试运行通过", "dry run ok"),
    "rejected": ("已拒绝", "rejected"),
    "registered_at": ("登记时间", "registered"),
    "vacant": ("空缺", "vacant"),
    "as_of": ("截至", "as of"),
    "status_title": ("居民区状态", "Community status"),
    "roster_title": ("居民区岗位名册", "Community roster"),
    "history_title": ("历史记录", "History"),
    "town_posts": ("镇级岗位", "Town posts"),
    "departments": ("职能部门", "departments"),
    "projection": ("读模型", "projection"),
    "lag": ("滞后", "lag"),
    "vacated": ("已离任", "vacated"),
}

for _body, (_zh, _en) in BODIES.items():
    LABELS.setdefault(f"body:{_body}", (_zh, _en))
for _kind in CATALOGUE:
    LABELS.setdefault(f"post:{_kind.pattern}", (_kind.zh, _kind.en))


def add_labels(labels: dict[str, tuple[str, str]]) -> None:
    """Add labels (key → (Chinese, English)); later domains may not silently redefine a key."""
    for key, value in labels.items():
        if key in LABELS and LABELS[key] != value:
            raise ValueError(f"label {key!r} defined twice with different texts")
        LABELS[key] = value


def t(key: str, lang: str) -> str:
    """The label for *key* in *lang* (``zh`` or ``en``); the key itself when unknown."""
    pair = LABELS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]


_language: ContextVar[str | None] = ContextVar("ledger_language", default=None)


def set_language(lang: str) -> None:
    """Choose the language messages are rendered in for this invocation or request."""
    _language.set(lang)


def language() -> str:
    """The language messages are rendered in now (``zh`` or ``en``)."""
    chosen = _language.get()
    if chosen is None:
        from ledger.kernel.config import default_lang

        chosen = default_lang()
    return chosen


def _(message: str) -> str:
    """*message* (English, as written in the code) in the reader's language."""
    return message
