"""Request and response models of the public API (pydantic). Money stays a decimal string here;
``money.parse_minor`` turns it into integer minor units once the currency is known."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from store_credit.clock import DEFAULT_TIMEZONE, EARLIEST_INSTANT, LATEST_DAY, LATEST_INSTANT, MAX_EXPIRY_DAYS
from store_credit.errors import InvalidInput
from store_credit.money import exponent, parse_minor

# Shown to customers and in exports: something to read, and no control characters.
# C0, DEL and C1 (U+0085 is a line break to many readers) are Unicode's control characters.
REASON_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
Reason = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=50,
        pattern=REASON_PATTERN,
        description="Shown in the ledger; at most 50 characters, not blank, no control characters.",
    ),
]
Note = Annotated[
    StrictStr, Field(max_length=500, description="Internal note; personal data may go here and is erased on request.")
]
CurrencyCode = Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$", examples=["USD"], description="ISO 4217 code.")]


def _known_currency(code: str) -> str:
    try:
        exponent(code)
    except InvalidInput as error:
        raise ValueError(error.errors[0].message) from None
    return code


KnownCurrency = Annotated[CurrencyCode, AfterValidator(_known_currency)]
DecimalString = Annotated[
    StrictStr,
    Field(
        pattern=r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$",
        max_length=40,
        examples=["12.34"],
        description="Decimal string, never a JSON number.",
    ),
]
Source = Literal["manual", "refund", "reward", "purchase", "renewal", "import", "goodwill"]


class ApiModel(BaseModel):
    # Each handler uses a few of these models: build a model's validator when it is first used,
    # not for all of them at import (about 50 ms of every cold start otherwise).
    model_config = ConfigDict(defer_build=True)


class StrictModel(ApiModel):
    model_config = ConfigDict(extra="forbid")


class Money(StrictModel):
    """``{"amount": "12.34", "currency": "USD"}`` with no more decimals than the currency has."""

    amount: DecimalString
    currency: CurrencyCode

    @model_validator(mode="after")
    def _fits_currency(self) -> Money:
        # Raised as ValueError so pydantic reports it at this field's location.
        try:
            parse_minor(self.amount, self.currency, allow_zero=True, allow_negative=True)
        except InvalidInput as error:
            raise ValueError(error.errors[0].message) from None
        return self

    def minor(self, *, field: str = "amount", allow_zero: bool = False) -> int:
        return parse_minor(self.amount, self.currency, field=f"{field}.amount", allow_zero=allow_zero)


def _showable_instant(moment: datetime) -> datetime:
    if not EARLIEST_INSTANT <= moment < LATEST_INSTANT:
        raise ValueError("must be between 1970-01-01T00:00:00Z and 9998-12-31T23:59:59Z")
    return moment


def _showable_day(day: date) -> date:
    if day > LATEST_DAY:
        raise ValueError(f"must be no later than {LATEST_DAY.isoformat()}")
    return day


# Pydantic's lax parsing takes a JSON number, or a string of digits ("20300101"), as seconds
# since 1970, and a midnight date-time as a date: the contract's dates are ISO 8601 text only.
_ISO_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}.*", re.DOTALL)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_instant_text(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_INSTANT.fullmatch(value)):
        return value
    raise ValueError("must be an ISO 8601 date-time with offset, such as 2030-01-01T00:00:00Z")


def _iso_day_text(value: object) -> object:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise ValueError("must be a date YYYY-MM-DD")


# A query integer is plain ASCII digits: pydantic's lax parsing, like ``int()``, would also
# read "5_0" as 50, "+5" or " 5" as 5, and "5.0" as 5. Goes after ``Query()`` and a ``Field``
# with the bounds (``Query(ge=...)`` beside it would drop the bounds from the OpenAPI).
_DIGITS = re.compile(r"[0-9]+")


def _plain_digits(value: object) -> object:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return value
    raise ValueError("must be a whole number written in digits 0-9 only")


PlainDigits = BeforeValidator(_plain_digits)
Instant = Annotated[AwareDatetime, BeforeValidator(_iso_instant_text), AfterValidator(_showable_instant)]
Day = Annotated[date, BeforeValidator(_iso_day_text), AfterValidator(_showable_day)]


class ExpirySpec(StrictModel):
    """Exactly one of ``never: true``, ``days: N`` or ``on: YYYY-MM-DD`` (23:59:59 merchant time)."""

    never: Literal[True] | None = None
    days: Annotated[StrictInt, Field(ge=1, le=MAX_EXPIRY_DAYS)] | None = None
    on: Day | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ExpirySpec:
        given = [name for name in ("never", "days", "on") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError('give exactly one of {"never": true}, {"days": N} or {"on": "YYYY-MM-DD"}')
        return self


class Restrictions(StrictModel):
    product_ids: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=128)]], Field(max_length=100)] = []
    categories: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=128)]], Field(max_length=100)] = []


class IssueCreditRequest(StrictModel):
    amount: Money
    reason: Reason
    note: Note | None = None
    expires: ExpirySpec | None = None
    valid_from: Instant | None = None
    source: Source = "manual"
    restrictions: Restrictions | None = None
    notify: StrictBool | None = None
    email: Annotated[StrictStr, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    phone: Annotated[StrictStr, Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164")] | None = None


class DebitRequest(StrictModel):
    amount: Money
    reason: Reason
    note: Note | None = None


# --- responses --------------------------------------------------------------------------


class MoneyOut(ApiModel):
    amount: str
    currency: str


class LotOut(ApiModel):
    lot_id: str
    original: MoneyOut
    remaining: MoneyOut
    held: MoneyOut
    state: Literal["active", "pending", "expired"]
    source: str
    issued_at: str
    expires_at: str | None
    valid_from: str | None
    restrictions: Restrictions | None


class NextExpiry(ApiModel):
    expires_at: str
    amount: MoneyOut


class WalletSummaryOut(ApiModel):
    customer_id: str
    currency: str
    balance: MoneyOut = Field(
        description="Σ lot remainders: available + held + not yet valid + expired awaiting the expiry job."
    )
    available: MoneyOut
    held: MoneyOut
    next_expiry: NextExpiry | None


class WalletOut(WalletSummaryOut):
    lots: list[LotOut]


class TransactionOut(ApiModel):
    id: str
    type: str
    amount: MoneyOut = Field(description="Signed: negative for debits.")
    balance_after: MoneyOut
    reason: str
    note: str | None
    order_id: str | None
    source: str | None
    lots: list[dict[str, str]]
    expires_at: str | None
    actor: str
    idempotency_key: str | None
    created_at: str


class WalletChangeOut(ApiModel):
    transaction: TransactionOut
    wallet: WalletSummaryOut


class TransactionPage(ApiModel):
    items: list[TransactionOut]
    next_cursor: str | None


# --- settings -----------------------------------------------------------------------------

PositiveDecimal = Annotated[StrictStr, Field(pattern=r"^(0|[1-9][0-9]*)(\.[0-9]{1,3})?$", examples=["10.00"])]
# 0 to 100, at most 2 decimals ("100.50" is no percentage of an order: it would pay more than it)
Percent = Annotated[StrictStr, Field(pattern=r"^(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)$", examples=["5"])]


class Notifications(StrictModel):
    email: StrictBool = False


class RedemptionTier(StrictModel):
    """One tier for every currency: amounts are read as numbers in the cart's currency ("100.00"
    is 100 yen); finer than that currency, min_order rounds up and max_fixed down."""

    min_order: PositiveDecimal | None = None
    max_fixed: PositiveDecimal | None = None
    max_percent: Percent | None = None

    @model_validator(mode="after")
    def _one_cap(self) -> RedemptionTier:
        if (self.max_fixed is None) == (self.max_percent is None):
            raise ValueError("give exactly one of max_fixed or max_percent")
        return self


class PlaceOrderRule(StrictModel):
    type: Literal["place_order"]
    per: PositiveDecimal
    credit: PositiveDecimal
    expires: ExpirySpec | None = None


class ReferralRule(StrictModel):
    type: Literal["referral"]
    fixed: PositiveDecimal | None = None
    percent: Percent | None = None
    expires: ExpirySpec | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> ReferralRule:
        if (self.fixed is None) == (self.percent is None):
            raise ValueError("give exactly one of fixed or percent")
        return self


class MilestoneRule(StrictModel):
    type: Literal["milestone"]
    orders: Annotated[StrictInt, Field(ge=1)] | None = None
    spent: PositiveDecimal | None = None
    credit: PositiveDecimal
    expires: ExpirySpec | None = None

    @model_validator(mode="after")
    def _one_threshold(self) -> MilestoneRule:
        if (self.orders is None) == (self.spent is None):
            raise ValueError("give exactly one of orders or spent")
        return self


EarningRule = Annotated[PlaceOrderRule | ReferralRule | MilestoneRule, Field(discriminator="type")]


def _ascending(tiers: list[RedemptionTier]) -> None:
    from decimal import Decimal

    minimums = [Decimal(t.min_order or "0") for t in tiers]
    if minimums != sorted(minimums) or len(set(minimums)) != len(minimums):
        raise ValueError("redemption_limits must be in ascending order of min_order, each min_order once")


class Settings(StrictModel):
    """A merchant's settings, with the defaults the contract names."""

    timezone: StrictStr = DEFAULT_TIMEZONE
    default_expiry: ExpirySpec | None = None
    notifications: Notifications = Notifications()
    apply_to_shipping: StrictBool = False
    include_tax: StrictBool = False
    exclude_non_discountable: StrictBool = True
    redemption_limits: Annotated[list[RedemptionTier], Field(max_length=5)] = []
    hold_ttl_minutes: Annotated[StrictInt, Field(ge=1, le=10_080)] = 60
    earning_rules: Annotated[list[EarningRule], Field(max_length=20)] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        from store_credit.clock import zone

        try:
            zone(name)
        except InvalidInput as error:
            raise ValueError(error.errors[0].message) from None
        return name

    @field_validator("redemption_limits")
    @classmethod
    def _tiers_ascend(cls, tiers: list[RedemptionTier]) -> list[RedemptionTier]:
        _ascending(tiers)
        return tiers


_NOT_PLACES = {"posixrules", "localtime", "Factory"}


class SettingsUpdate(StrictModel):
    """``PUT /v1/settings``: the fields given replace their value; the fields left out keep theirs.
    ``webhook_secret`` is write-only."""

    timezone: StrictStr | None = None
    default_expiry: ExpirySpec | None = None
    notifications: Notifications | None = None
    apply_to_shipping: StrictBool | None = None
    include_tax: StrictBool | None = None
    exclude_non_discountable: StrictBool | None = None
    redemption_limits: Annotated[list[RedemptionTier], Field(max_length=5)] | None = None
    hold_ttl_minutes: Annotated[StrictInt, Field(ge=1, le=10_080)] | None = None
    earning_rules: Annotated[list[EarningRule], Field(max_length=20)] | None = None

    @field_validator("timezone")
    @classmethod
    def _a_place(cls, name: str | None) -> str | None:
        # Files of the tz database that name no place: right/* count leap seconds (instants 27 s
        # off any clock), posix/* and posixrules duplicate others, localtime is the host's
        # zone, Factory has no offset meant for use. Checked only when set, so a stored value
        # is never refused on read.
        if name is not None and (name.split("/", 1)[0] in {"right", "posix"} or name in _NOT_PLACES):
            raise ValueError(f"{name!r} is not an IANA timezone such as Europe/Paris")
        return name

    webhook_secret: Annotated[StrictStr, Field(min_length=16, max_length=256)] | None = None


class SettingsOut(Settings):
    webhook_secret_set: bool = False


# --- checkout -------------------------------------------------------------------------------

TaxRate = Annotated[
    StrictStr,
    Field(pattern=r"^(100|[0-9]{1,2})(\.[0-9]{1,4})?$", examples=["20"], description="Percent, as a decimal string"),
]
NonNegativeDecimal = Annotated[
    StrictStr, Field(pattern=r"^(0|[1-9][0-9]*)(\.[0-9]+)?$", max_length=40, examples=["19.99"])
]
CheckoutId = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
CustomerRef = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")]
Label = Annotated[StrictStr, Field(min_length=1, max_length=128)]


class CartItem(StrictModel):
    id: Label
    product_id: Label | None = None
    categories: Annotated[list[Label], Field(max_length=20)] = []
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]
    unit_price: NonNegativeDecimal
    tax_rate: TaxRate = "0"
    discountable: StrictBool = True
    store_credit_product: StrictBool = False
    credit_amount: NonNegativeDecimal | None = None
    recipient_customer_id: CustomerRef | None = None


class CartIn(StrictModel):
    currency: KnownCurrency
    items: Annotated[list[CartItem], Field(min_length=1, max_length=250)]
    discount_total: NonNegativeDecimal = "0"
    shipping: NonNegativeDecimal = "0"
    shipping_tax_rate: TaxRate = "0"
    prices_include_tax: StrictBool = False


class ApplyRequest(StrictModel):
    checkout_id: CheckoutId
    customer_id: CustomerRef | None = None
    code: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9-]{16,48}$")] | None = None
    email: (
        Annotated[StrictStr, Field(max_length=254, description="The buyer's email, for a code restricted to one email")]
        | None
    ) = None
    requested_amount: NonNegativeDecimal | None = None
    capture: StrictBool = False
    cart: CartIn

    @model_validator(mode="after")
    def _who_pays(self) -> ApplyRequest:
        if self.customer_id is None and self.code is None:
            raise ValueError("a checkout needs a customer_id or a code: guests cannot use store credit")
        if self.customer_id is not None and self.code is not None:
            raise ValueError("give a customer_id or a code, not both")
        return self


class CheckoutBreakdown(ApiModel):
    items: MoneyOut
    shipping: MoneyOut
    tax: MoneyOut


class CheckoutTotals(ApiModel):
    subtotal: MoneyOut
    discounts: MoneyOut
    shipping: MoneyOut
    tax: MoneyOut
    store_credit: MoneyOut
    total: MoneyOut


class HoldOut(ApiModel):
    id: str
    expires_at: str


class CheckoutOut(ApiModel):
    checkout_id: str
    customer_id: str | None
    code: str | None
    applied: MoneyOut
    breakdown: CheckoutBreakdown
    totals: CheckoutTotals
    hold: HoldOut | None
    captured: bool
    balance_after: MoneyOut = Field(description="Credit still available to the customer after this checkout.")
    lots: list[dict[str, str]]


class ReleaseOut(ApiModel):
    checkout_id: str
    state: str
    released: MoneyOut
    balance_after: MoneyOut


# --- order webhook ------------------------------------------------------------------------------


class LenientModel(ApiModel):
    """Order systems send more than we read; unknown fields are ignored, known ones are strict."""

    model_config = ConfigDict(extra="ignore")


class OrderItem(LenientModel):
    id: Label | None = None
    product_id: Label | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)] = 1
    unit_price: NonNegativeDecimal = "0"
    store_credit_product: StrictBool = False
    credit_amount: NonNegativeDecimal | None = Field(
        default=None, description="Credit one unit issues (defaults to unit_price)"
    )
    recipient_customer_id: CustomerRef | None = Field(default=None, description="Gift recipient (default: the buyer)")


class OrderRefund(LenientModel):
    amount: NonNegativeDecimal
    to: Literal["store_credit", "original"]


class OrderIn(LenientModel):
    id: CheckoutId
    checkout_id: CheckoutId | None = None
    customer_id: CustomerRef | None = Field(
        default=None, description="The buyer; left out only by a guest's order whose checkout a store-credit code paid"
    )
    currency: KnownCurrency
    total: NonNegativeDecimal = Field(description="What was charged, after store credit")
    items: Annotated[list[OrderItem], Field(max_length=250)] = []
    refund: OrderRefund | None = None
    referrer_customer_id: CustomerRef | None = None


OrderEventType = Literal["order.paid", "order.cancelled", "order.refunded", "order.updated", "order.failed"]


class OrderEvent(LenientModel):
    """The order webhook's body, signed with ``X-Signature``."""

    id: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$", description="Event id")]
    type: OrderEventType
    order: OrderIn

    @model_validator(mode="after")
    def _refund_given(self) -> OrderEvent:
        if self.type == "order.refunded" and self.order.refund is None:
            raise ValueError("order.refunded needs order.refund with amount and to")
        return self


class IssuedOut(ApiModel):
    customer_id: str
    amount: MoneyOut
    kind: Literal["product", "reward", "refund"]
    entry_id: str


class OrderEventOut(ApiModel):
    event_id: str
    type: str
    order_id: str
    outcome: Literal["applied", "duplicate", "ignored"]
    detail: str
    captured: Annotated[
        MoneyOut,
        Field(description="Store credit the order took from its checkout: captured now, or at apply and claimed now."),
    ]
    returned: Annotated[MoneyOut, Field(description="Spent credit this event put back into its lots.")]
    released: Annotated[MoneyOut, Field(description="Held credit this event freed without spending it.")]
    taken_back: Annotated[
        MoneyOut,
        Field(
            description=(
                "Credit the order had given (products, rewards) that this event took back: all of it on a"
                " cancel or a refund in full, the refunded share of rewards that scale with the order's"
                " total on a partial refund; only what is unspent now. What was spent or held is owed:"
                " it is taken as soon as it comes back into its lot (a checkout releases it, or the"
                " order that spent it is cancelled), and counted then in that event's taken_back."
            )
        ),
    ]
    issued: Annotated[
        list[IssuedOut],
        Field(
            description=(
                "Credit this event issued: rewards, store-credit products (a lot per unit), refunds as"
                " store credit. When an order spent store credit, its products are issued only in the"
                " share of their price its charged total pays (store credit never buys store credit);"
                " detail says how much was not issued."
            )
        ),
    ]


# --- renewal ----------------------------------------------------------------------------------


class RenewalPlanRequest(StrictModel):
    amount: Money
    period: Literal["monthly", "annually"]
    mode: Literal["top_up", "grant"]
    expires: ExpirySpec | None = None
    reason: Reason = "Renewal"


class RenewalPlanOut(ApiModel):
    customer_id: str
    currency: str
    amount: MoneyOut
    period: str
    mode: str
    expires: ExpirySpec | None
    reason: str
    next_renewal_at: str
    last_period: str | None


class RenewalPlansDeleted(ApiModel):
    customer_id: str
    deleted: list[str] = Field(description="Currencies whose plan was removed")


# --- codes ------------------------------------------------------------------------------------

Affix = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9-]{0,16}$", description="Letters, digits or '-'")]
Email = Annotated[StrictStr, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class CreateCodesRequest(StrictModel):
    amount: Money
    count: Annotated[StrictInt, Field(ge=1, le=40, description="Codes made in one atomic request")] = 1
    prefix: Affix = ""
    suffix: Affix = ""
    expires: ExpirySpec | None = None
    valid_from: Instant | None = None
    allowed_email: Email | None = None
    reason: Reason = "Store-credit code"
    note: Note | None = None


class CodeOut(ApiModel):
    code: str
    currency: str
    balance: MoneyOut
    available: MoneyOut
    held: MoneyOut
    expires_at: str | None
    valid_from: str | None
    restricted_to_email: bool


class CodesOut(ApiModel):
    codes: list[CodeOut]


# --- privacy -----------------------------------------------------------------------------------


class CustomerExport(ApiModel):
    customer_id: str
    exported_at: str
    profile: dict[str, str]
    wallets: list[dict[str, Any]]
    ledger: list[TransactionOut]
    renewal_plans: list[dict[str, Any]]
    order_stats: list[dict[str, Any]] = Field(default=[], description="Paid orders per currency (earning rules)")


class ErasureOut(ApiModel):
    customer_id: str
    items_erased: int
    amounts_kept: bool


class Outstanding(ApiModel):
    total: MoneyOut
    by_source: dict[str, MoneyOut]


class LiabilityReport(ApiModel):
    model_config = ConfigDict(populate_by_name=True)

    currency: str
    outstanding: Outstanding = Field(description="Available + held, by the source of the credit")
    from_: str = Field(alias="from")
    to: str
    expired: MoneyOut = Field(description="Credit that expired between from and to (days in the merchant's timezone)")
    redeemed: MoneyOut = Field(
        description="Credit debited or captured between from and to (days in the merchant's timezone), less what"
        " order refunds and cancels gave back"
    )
    taken_back: MoneyOut = Field(
        description="Credit that cancelled or refunded orders took back from what they had issued (rewards,"
        " purchased credit) between from and to (days in the merchant's timezone): never spent, so not redeemed"
    )
    as_of: str


# --- bulk import -------------------------------------------------------------------------------


class ImportRowIn(StrictModel):
    """One row of a JSON import: the CSV's columns. ``amount`` is a signed decimal string
    (negative deducts) with ``currency``, or money ``{"amount", "currency"}``."""

    customer_id: StrictStr | None = None
    email: StrictStr | None = None
    phone: StrictStr | None = Field(default=None, description="E.164")
    amount: DecimalString | Money
    currency: CurrencyCode | None = None
    reason: Reason
    expires_on: date | None = None
    expires_days: Annotated[StrictInt, Field(ge=1, le=MAX_EXPIRY_DAYS)] | None = None


class ImportGroupIn(StrictModel):
    """SHOPLINE's "add credits to a group": one amount and reason for every customer listed."""

    customer_ids: Annotated[list[StrictStr], Field(min_length=1, max_length=100_000)]
    amount: Money
    reason: Reason
    expires_on: date | None = None
    expires_days: Annotated[StrictInt, Field(ge=1, le=MAX_EXPIRY_DAYS)] | None = None


class ImportAccepted(ApiModel):
    import_id: str
    state: str
    rows_total: int


class ImportRowError(ApiModel):
    row: int = Field(description="0-based: rows[N] of the file (for CSV, the Nth line after the header)")
    reason: str


class ImportStatus(ApiModel):
    import_id: str
    state: Literal["validating", "interrupted", "queued", "applying", "completed", "completed_with_errors"] = Field(
        description=(
            "interrupted: the upload request ended before every row was queued; send the same request "
            "again with the same Idempotency-Key to queue the rest (rows already applied are not applied twice)"
        )
    )
    rows_total: int
    rows_applied: int
    rows_failed: int
    errors: list[ImportRowError] = Field(description="Failed rows in row order, one page (limit, default 100)")
    next_cursor: str | None
    created_at: str


def import_request_body() -> dict[str, Any]:
    """OpenAPI ``requestBody`` of ``POST /v1/imports``: the route reads its body itself (CSV,
    optionally gzip), so Powertools cannot derive it from a parameter."""

    def schema(model: type[BaseModel]) -> dict[str, Any]:
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        found.pop("$defs", None)  # Money: already among the document's components
        return found

    rows = {"type": "array", "items": schema(ImportRowIn), "maxItems": 100_000}
    return {
        "required": True,
        "description": (
            "The whole import in one request, validated before anything is stored: up to 100,000 rows "
            "(20 MB once decompressed). Send Content-Encoding: gzip for large files, so the request stays "
            "under API Gateway's and Lambda's payload limits (100,000 CSV rows are about 1 MB gzipped)."
        ),
        "content": {
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "Header exactly customer_id,email,phone,amount,currency,reason,expires_on,"
                    "expires_days; amount signed (negative deducts); at most one of expires_on / expires_days.",
                },
                "example": "customer_id,email,phone,amount,currency,reason,expires_on,expires_days\n"
                "cus_1001,,,25.00,USD,Migration,,365\n,ann@shop.example,,-5.00,USD,Correction,,\n",
            },
            "application/json": {"schema": {"oneOf": [rows, schema(ImportGroupIn)]}},
        },
    }
