# English messages of the API: problem titles (one per code in docs/errors.md), problem
# details, and the per-field messages of 422 replies. The same ids are in
# locales/zh-CN/main.ftl; tests/api/messages.rs and src/i18n.rs check that both catalogs have
# every id the code uses and every code's title.

## Titles: short, the same for every occurrence of the code.

title-validation_failed = Invalid fields
title-malformed_json = Malformed JSON
title-unreadable_body = Unreadable body
title-idempotency_key_required = Idempotency key required
title-idempotency_key_invalid = Invalid idempotency key
title-idempotency_key_in_use = Idempotency key in use
title-idempotency_key_reused = Idempotency key reused
title-unauthenticated = Not signed in
title-invalid_credentials = Wrong email or password
title-forbidden = Not allowed
title-csrf_rejected = Cross-site request refused
title-account_disabled = Account disabled
title-organization_inactive = Organization inactive
title-producer_not_verified = Producer not verified
title-producer_suspended = Producer suspended
title-enterprise_not_verified = Enterprise not verified
title-not_found = Not found
title-method_not_allowed = Method not allowed
title-request_timeout = Request timed out
title-email_taken = Email taken
title-uscc_taken = USCC taken
title-owner_immutable = Owner cannot be changed
title-invalid_transition = Step not allowed now
title-insufficient_stock = Not enough stock
title-too_many_open_orders = Too many unpaid orders
title-order_not_payable = Order cannot be paid
title-order_expired = Order expired
title-no_certification = No certification
title-payload_too_large = Body too large
title-unsupported_media_type = Unsupported media type
title-invalid_lines = Invalid order lines
title-cart_full = Cart full
title-nothing_to_certify = Nothing to certify
title-too_many_attempts = Too many attempts
title-too_many_orders = Too many orders
title-server_busy = Server busy
title-internal_error = Internal error
title-invalid_signature = Invalid signature
title-malformed_event = Malformed event
title-card_declined = Card declined
title-producer_refunds_disabled = Producer refunds disabled
title-order_already_paid = Order already paid
title-bank_reference_used = Bank reference used
title-bank_transfer_not_started = No bank transfer started
title-order_not_paid = Order not paid
title-nothing_to_refund = Nothing to refund
title-payment_in_progress = Payment in progress
title-amount_mismatch = Amount mismatch
title-refund_exceeds_paid = Refund exceeds payment
title-payment_provider_unavailable = Payment provider unavailable
title-http_error = HTTP error

## Details of the codes that always say the same.

validation_failed = the request has invalid fields
unauthenticated = sign in first
invalid_credentials = email or password is wrong
not_found = no such resource
payload_too_large = the request body is larger than allowed
unsupported_media_type = expected a JSON body (Content-Type: application/json)
too_many_attempts = too many attempts; try again later
server_busy = the server is busy; try again shortly
internal_error = something went wrong on our side; the request id identifies it in our logs
csrf_rejected = cross-site state-changing requests are refused; send the request from the site itself
method_not_allowed = this method is not allowed on this resource
request_timeout = the request took too long
http_error = the request failed (HTTP { $status })
email_taken = an account with this email already exists
uscc_taken = an organization with this USCC is already registered
bank_reference_used = this bank reference already confirmed another payment
malformed_json = the body is not valid JSON: { $detail }
unreadable_body = the body could not be read: { $detail }

## Field messages: serde's own words about a body or query of the wrong shape.

field-unknown = is not a known field
field-missing = is required
field-invalid-type = { $detail }
field-unknown-variant = { $detail }
field-invalid = { $detail }

## Text, emails, passwords, phones, USCCs, division codes.

text-empty = must not be empty
text-too-long = is too long (at most { $max } characters)
text-control-characters = must not contain control characters
email-invalid = must be a valid email address
password-too-short = must be at least { $min } characters
password-too-long = must be at most { $max } characters
password-too-common = is too common; choose another
phone-invalid = must be a phone number of 7 to 15 digits
uscc-length = must be 18 characters
uscc-alphabet = contains characters outside the USCC alphabet (I, O, S, V and Z are not used)
uscc-check-character = has a wrong check character
adcode-shape = must be a six-digit administrative division code

## Numbers and choices.

range = must be from { $min } to { $max }
one-of = must be one of { $allowed }
not-negative = must not be negative
positive-fen = must be a positive amount in fen

## Products: price ladders, units, images.

ladder-empty = must have at least one tier
ladder-too-many-tiers = may have at most { $max } tiers
ladder-first-tier = the first tier must start at min_qty 1 (the retail price)
ladder-price-not-positive = tier { $tier }: unit_price_fen must be positive
ladder-price-too-high = tier { $tier }: unit_price_fen must be at most { $max }
ladder-qty-too-high = tier { $tier }: min_qty must be at most { $max }
ladder-qty-not-rising = tier { $tier }: min_qty must be greater than the previous tier's
ladder-price-rising = tier { $tier }: unit_price_fen must not be above the previous tier's
images-too-many = may list at most { $max } images
image-not-url = image { $index } must be an http(s) URL
length-between = must be { $min } to { $max } characters
not-before = must not be before { $other }
not-below = must not be below { $other }
no-such-category = no such category
gansu-county = must be the code of a Gansu county
gansu-prefecture = must be the code of a Gansu prefecture
board-cursor-needs-unit = pages through one unit's offers: give `unit` too
producer_suspended = the producer is suspended
producer_not_verified = the producer has not been verified yet
product-transition = a product that is { $from } cannot become { $to }
no_certification = the product has no certification to decide on
certification-already = the certification is already { $status }
alert-already-resolved = the alert is already resolved

## Orders and carts.

open-orders-limit = { $scope ->
    [enterprise] this enterprise (all its members together)
   *[other] this account
    } already has { $open_orders } unpaid orders, the most allowed at once; pay for or cancel one first
reserved-units-limit = this order's { $order_units } units and the { $reserved_units } held by unpaid orders of { $scope ->
    [enterprise] this enterprise (all its members together)
   *[other] this account
    } would pass the limit of { $max } units; pay for or cancel an order, or order less
order-rate-limit = { $whose ->
    [address] this address
   *[other] this account
    } made { $max } order attempts in this { $window_secs } s window, the most allowed; try again in { $retry_after_secs } s
order-transition = an order that is { $from } cannot become { $to }
order_expired = the order's approval hold has run out; it is expiring and its stock goes back
group-cannot-ship = a group that is { $status } cannot be shipped
group-cannot-receive = a group that is { $status } cannot be confirmed as received
order-not-payable-refund = the order is { $status }; the payment must be refunded
bulk-for-enterprises = bulk orders are for enterprises
adcode-unknown = must be a division code from /api/v1/regions
invoice-enterprise-only = only enterprise orders carry invoice details
lines-or-cart = give either lines or from_cart: true
order-no-lines = the order has no lines
order-too-many-lines = at most { $max } lines; use /orders/bulk for more
po-number-enterprise-only = only enterprise orders carry a purchase-order number
order-lines-invalid = some lines of the order are not valid
order-lines-not-buyable = some lines of the order cannot be bought
order-lines-short = not enough stock for some lines
csv-too-many-lines = at most { $max } lines
csv-no-lines = the file has no lines
csv-rows-short = not enough stock for some rows of the file
csv-rows-invalid = some rows of the file cannot be ordered as they are
cart_full = the cart holds at most { $max } products; order or remove some first
approvers-only = only approvers and owners decide on orders
owner-sets-policy = only the enterprise's owner sets its ordering policy
no-enterprise = this account belongs to no enterprise
enterprise_not_verified = the enterprise is not verified; it cannot place or manage orders
buyers-only = only consumers and enterprise members buy

## Payments and refunds.

date-format = must be a date, YYYY-MM-DD
date-in-future = must not be in the future
transfer-enterprise-only = bank transfers (对公转账) are for enterprises; pay by card
order-awaiting-approver = the order is awaiting an approver; it can be paid once approved
order_already_paid = the order is already paid
order-not-payable-again = the order is { $status }; place it again
order-not-payable-transfer = the order is { $status }; return the transfer to the enterprise
payment_in_progress = another payment of this order was just started
payment_provider_unavailable = { $why ->
    [busy] the payment provider is busy
    [conflict] the payment provider is still handling the last attempt
    [timeout] the payment provider did not answer in time
    [failed] the payment provider failed
   *[other] the payment provider could not be reached
    }; the order can still be paid: try again
card_declined = { $detail }
bank_transfer_not_started = no bank transfer was started for this order
amount_mismatch = { $amount } fen received for an order of { $total } fen
bank-reference-admin-only = only admins record outgoing transfers
order-is = the order is { $status }
order-no-payment = the order has no payment to refund
refund_exceeds_paid = a refund may not exceed what was paid for a line
group-implied = is implied by the producer's group
group-not-paid = is not a paid group of this order
refund-lines-or-full = give either lines (each with line_id and qty) or full: true (with group_id for one group)
nothing_to_refund = everything paid has been refunded already
refund-lines-invalid = some lines of the refund are not valid
card-refunds-by-stripe = Stripe completes card refunds, not admins
refund-is = the refund is { $status }
bank-reference-used-refund = this bank reference already recorded another refund
producer_refunds_disabled = refunds are made by platform admins
invalid_signature = { $why ->
    [missing] the Stripe-Signature header is missing
    [malformed] the Stripe-Signature header is malformed
    [mismatch] the signature does not match the body
   *[other] the signature's timestamp is more than 300 s away
    }
malformed_event = the event cannot be read: { $detail }

## Accounts, organizations, members, staff.

producers-only = only producers manage products
enterprise-members-only = only members of an enterprise see its assistance figures
organization_inactive = the organization is { $status }; its members cannot be changed
owner-manages-members = only the organization's owner may manage members
owner_immutable = the owner's membership cannot be changed or removed
tianjin-district = must be the code of a Tianjin district
organization-transition = a { $from } organization cannot be { $to }
account_disabled = this account has been disabled
password-unchanged = must differ from the current password
password-wrong = is wrong
staff-only = only platform staff may do this
admins-only = only platform admins may do this
required-with = is required with { $other }
cursor-unknown = is not a cursor this service issued
idempotency_key_required = send an Idempotency-Key header
idempotency_key_invalid = the Idempotency-Key must be 1 to 255 visible ASCII characters
idempotency_key_reused = this Idempotency-Key was used with a different request
idempotency_key_in_use = a request with this Idempotency-Key is still running

## Tallies, targets, certificates, exports.

certificate-issuers-only = only the enterprise's owner and approvers issue certificates
year-to-come = is still to come
nothing_to_certify = the enterprise has no assistance purchases in { $year } to certify
target-percent = must be more than 0 and at most 100, with at most two decimals
target-below-one-fen = gives a target of less than one fen
target-amount-or-percent = give either amount_fen, or percent and budget_fen
owner-sets-target = only the enterprise's owner sets its assistance target
range-too-long = must be at most { $max } days from from, counting both
day-required = is required: a day, YYYY-MM-DD (Asia/Shanghai)
group-by-required = is required: the dimension to group by
