"""The ledger's errors: one root, :class:`LedgerError`, and a subclass per refusal.

Every message names the thing at fault and, where there is one, the fix. The CLI turns
these into ``Error: …`` with exit status 1; HTTP turns them into 4xx JSON.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Raised when the ledger refuses a command or a query; the root of all our errors."""

    #: Short machine-readable code, used in JSON error bodies and apply reports.
    code = "ledger_error"
    #: HTTP status an API should answer with.
    http_status = 400


class ConfigurationError(LedgerError):
    """Raised when a setting (database URL, time zone, language, key path) is unusable."""

    code = "configuration"


class LedgerNotFoundError(ConfigurationError):
    """Raised when the ledger database named (``--db``) does not exist: no SQLite file at the
    path, or no such PostgreSQL database."""

    code = "no_ledger"
    #: Exit status of the command line: a usage mistake, like a misspelt option.
    exit_code = 2


class ReadOnlyLedgerError(LedgerError):
    """Raised when a write is sent to a ledger opened read-only (a read-only file or
    directory, as an auditor's copy is)."""

    code = "read_only_ledger"
    http_status = 403


class CommandValidationError(LedgerError):
    """Raised when a command is malformed: unknown type, missing or mistyped field, bad date."""

    code = "invalid_command"
    http_status = 422


class UnknownCommandTypeError(CommandValidationError):
    """Raised when a command's ``type`` names no known command."""

    code = "unknown_command_type"


class NotFoundError(LedgerError):
    """Raised when a command or query names something the ledger does not hold."""

    code = "not_found"
    http_status = 404


class TownNotFoundError(NotFoundError):
    """Raised when a town code is not registered."""

    code = "unknown_town"


class CommunityNotFoundError(NotFoundError):
    """Raised when a community code is not registered."""

    code = "unknown_community"


class AggregateNotFoundError(NotFoundError):
    """Raised when a history or audit key names no aggregate with events."""

    code = "unknown_key"


class DepartmentNotFoundError(NotFoundError):
    """Raised when a department code is not one of the town's departments."""

    code = "unknown_department"


class InvalidPostError(LedgerError):
    """Raised when a post name is malformed or names a post that does not exist."""

    code = "invalid_post"


class PostOccupiedError(LedgerError):
    """Raised when appointing to a single-holder post that someone else holds."""

    code = "post_occupied"
    http_status = 409


class PostNotHeldError(LedgerError):
    """Raised when vacating a post the person does not hold, or acting in a post not held."""

    code = "post_not_held"
    http_status = 403


class AuthorityError(LedgerError):
    """Raised when the acting post has no authority for the command in that scope."""

    code = "no_authority"
    http_status = 403


class AlreadyExistsError(LedgerError):
    """Raised when creating something (town, community, …) that already exists."""

    code = "already_exists"
    http_status = 409


class BootstrapRefusedError(AlreadyExistsError):
    """Raised when bootstrapping a ledger that already holds events."""

    code = "bootstrap_refused"


class RuleViolationError(LedgerError):
    """Raised when a command breaks a domain rule not covered by a more specific error."""

    code = "rule_violation"
    http_status = 409


class ConcurrencyError(LedgerError):
    """Raised when a command kept conflicting with concurrent writers after all retries."""

    code = "conflict"
    http_status = 409


class LedgerNotEmptyError(LedgerError):
    """Raised when an operation that needs an empty ledger (the demo load) finds events."""

    code = "ledger_not_empty"
    http_status = 409


class ElectionRequiredError(RuleViolationError):
    """Raised when an owners'-committee post is filled other than through a recorded election."""

    code = "election_required"


class ContractRequiredError(RuleViolationError):
    """Raised when a property-firm post is filled other than through the firm's contract."""

    code = "contract_required"


class ImplausibleTimeError(RuleViolationError):
    """Raised when a command's business time cannot be true: further in the future than the
    town's tolerance, or before the thing it acts on existed (a firm registered, a year opened,
    a tender launched, a person appointed); the message names both dates."""

    code = "implausible_time"


class TenderWindowError(RuleViolationError):
    """Raised when a bid comes outside its tender's launch-to-closing window, or an award
    before the tender closed."""

    code = "tender_window"


class PersonalDataInTextError(CommandValidationError):
    """Raised when a free-text field or a subject id holds what looks like a resident's
    personal data (a mobile or landline number, an ID-card number): such data goes only into
    the sealed ``caller`` field, which can be erased."""

    code = "personal_data_in_text"
