"""One exception hierarchy for Accord.

Every error names what was wrong and where (file, line, field, party). The CLI prints
``str(error)`` on one line, without a traceback, and exits with ``error.exit_code``.
Verification functions raise one of these; none of them returns a bool to forget to check.
"""

from __future__ import annotations


def shown(value: object, width: int = 60) -> str:
    """``repr(value)`` for an error message, cut to about ``width`` characters: a message names
    what is wrong in one short line however long the input was (a 1 MB banner or kind was
    quoted whole, twice, into refusals that are answered and stored). An integer past 64 bits
    is named by its size (no ``repr`` of more than 4,300 digits exists)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= width else f"{text[:width - 20]}… ({len(text)} characters)"


class AccordError(Exception):
    """Base of every error Accord raises on purpose."""

    exit_code = 1


class InputError(AccordError):
    """Bad input from a user or a file: names the file/line/field at fault."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        where = []
        if source:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        if field:
            where.append(f"field {field!r}")
        self.source, self.line, self.field = source, line, field
        self.detail = message
        super().__init__(f"{': '.join([', '.join(where)] if where else [])}{': ' if where else ''}{message}")


class ConfigError(AccordError):
    """A node directory or configuration is missing or inconsistent."""

    exit_code = 2


class NotFoundError(AccordError):
    """A named thing (item, collection, agreement, partner …) does not exist."""

    exit_code = 3


class VerificationError(AccordError):
    """Something failed cryptographic or structural verification.

    Carries ``expected`` and ``actual`` where a value was compared.
    """

    exit_code = 4

    def __init__(self, message: str, *, expected: object = None, actual: object = None) -> None:
        self.expected, self.actual = expected, actual
        if expected is not None or actual is not None:
            message = f"{message} (expected {expected!r}, got {actual!r})"
        super().__init__(message)


# --- signatures and envelopes -------------------------------------------------------------
class SignatureError(VerificationError):
    """A signature does not verify under the key it claims."""


class UnknownKeyError(VerificationError):
    """A message is signed by, or addressed from, a key/party that is not pinned."""


class ReplayError(VerificationError):
    """An envelope's sequence number was already accepted."""


class SequenceGapError(VerificationError):
    """An envelope arrived beyond the allowed out-of-order window."""


class ExpiredError(VerificationError):
    """An envelope, agreement or token is outside its validity window."""


class CanonicalJSONError(InputError):
    """JSON that is not acceptable for signing (duplicate keys, non-finite numbers …)."""


# --- markings, agreements, policy ----------------------------------------------------------
class MarkingError(InputError):
    """A classification banner or marking is malformed or unknown."""


class AgreementError(VerificationError):
    """An agreement is malformed, unsigned by a party, altered, or out of its window."""


class PolicyDenied(AccordError):
    """Sharing an item to a partner is not allowed; ``reasons`` lists why as shown and sent
    (``"no: …"``), ``refusals`` the same checks' bare texts."""

    exit_code = 5

    def __init__(self, message: str, reasons: list[str] | tuple[str, ...] = (),
                 refusals: list[str] | tuple[str, ...] = ()) -> None:
        self.reasons = list(reasons)
        self.refusals = list(refusals)
        super().__init__(message + (": " + "; ".join(self.reasons) if self.reasons else ""))


# --- ledger ----------------------------------------------------------------------------
class LedgerError(VerificationError):
    """A ledger proof, checkpoint or consistency check failed."""


class InclusionProofError(LedgerError):
    """An inclusion proof does not lead to the claimed root."""


class ConsistencyProofError(LedgerError):
    """A consistency proof does not link the old and new tree heads (history rewritten?)."""


class CheckpointError(LedgerError):
    """A checkpoint / signed note is malformed or its signature fails."""


class NodeIntegrityError(VerificationError):
    """A node's stored data disagrees with itself or with its ledger (``accord ledger verify``).

    ``problems`` lists every one found (each names its place: ``item …``, ``agreement …``,
    ``ledger``, ``sqlite`` …); the message names how many and the first few, on one line.
    """

    def __init__(self, problems: list) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:3])
        more = f"; and {len(self.problems) - 3} more" if len(self.problems) > 3 else ""
        super().__init__(f"node verification failed, {len(self.problems)} problem(s): {shown}{more}"
                         .replace("\n", " "))


# --- store / federation ------------------------------------------------------------------
class StoreError(AccordError):
    """The store refused an operation; nothing was changed."""


class StoreUnavailable(StoreError):
    """The database could not be reached (a PostgreSQL restart, a network fault): nothing was
    committed; the same request can be retried. The API answers it 503."""


class FederationError(AccordError):
    """A partner could not be reached or refused a delivery."""


class PartnerDeferred(FederationError):
    """A partner answered 429: it takes nothing now (its intake quota for this node is used up,
    or this node has too many requests in progress there). ``retry_after``: the seconds it asked
    to wait (``Retry-After``), or None; the batch stays queued and is sent again after that."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class QuotaExceeded(AccordError):
    """A partner has used up its intake quota for the current window (nothing of its request
    was applied). ``retry_after``: whole seconds until the window ends and it has room again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class AuthError(AccordError):
    """Missing or wrong credentials."""

    exit_code = 6


class RequestSignatureError(AuthError):
    """A partner request's RFC 9421 signature is missing, malformed, forged or not acceptable.

    ``signer`` is the pinned party whose key verified the signature (the request is authentic
    but refused, e.g. expired or addressed to another node), or ``None`` when no pinned key
    verified it: whatever ``keyid`` a forged request claims, it is from an unknown key.
    """

    def __init__(self, message: str, *, signer: str | None = None) -> None:
        self.signer = signer
        super().__init__(message)


# --- dialogue ------------------------------------------------------------------------------
class StatusTransitionError(InputError):
    """A commitment or meeting status change that its state machine does not allow."""


class NotOwnerError(VerificationError):
    """A change to an agreed commitment that is not signed by the commitment's owner party."""


# --- intel ---------------------------------------------------------------------------------
class StixValidationError(InputError):
    """STIX content failed validation; ``failures`` lists ``{"index", "id", "message"}`` per
    object at fault (the first of them, when ``count``, how many failed, is more). Nothing of the
    request or file was stored."""

    def __init__(self, message: str, failures: list[dict] | None = None, *,
                 source: str | None = None, count: int | None = None) -> None:
        self.failures = list(failures or [])
        self.count = len(self.failures) if count is None else count
        super().__init__(message, source=source)


class InvalidObjectsSkipped(StixValidationError):
    """``accord intel import --skip-invalid`` stored the valid objects of a bundle and skipped
    these (``failures``); the message names the report file that lists them with reasons."""


# --- envelopes (core) ----------------------------------------------------------------------
class WrongRecipientError(VerificationError):
    """An envelope addressed to another party arrived here."""


class EnvelopeError(InputError):
    """An envelope is malformed (missing/extra fields, wrong types, item not from its sender)."""


# --- store ---------------------------------------------------------------------------------
class SchemaInTransactionError(StoreError):
    """Schema creation was asked for while a transaction is open on the connection (its script
    would first COMMIT that transaction, perhaps another thread's, half done)."""
