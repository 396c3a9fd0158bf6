-- Payments: payments of orders (Stripe PaymentIntents, bank transfers), refunds, the Stripe
-- events already processed, and the append-only assistance ledger.

-- An order or group whose every paid unit was refunded ends as `refunded`.
alter table orders drop constraint orders_status_check;
alter table orders add constraint orders_status_check check (status in
    ('awaiting_approval', 'pending_payment', 'paid', 'completed', 'cancelled', 'expired', 'refunded'));
alter table order_groups drop constraint order_groups_status_check;
alter table order_groups add constraint order_groups_status_check check (status in
    ('pending', 'paid', 'shipped', 'completed', 'cancelled', 'expired', 'refunded'));

-- What the order shows of its payment; kept by the payments area through the orders area's
-- functions, in the same transactions as the payment and refund rows below.
alter table orders
    add column payment_method text check (payment_method in ('stripe', 'bank_transfer')),
    add column paid_fen bigint not null default 0 check (paid_fen >= 0),
    add column refunded_fen bigint not null default 0 check (refunded_fen >= 0 and refunded_fen <= paid_fen);

create table payments (
    id uuid primary key,
    order_id uuid not null references orders (id),
    method text not null check (method in ('stripe', 'bank_transfer')),
    -- open: waiting for the money. succeeded: the money paid the order. superseded: the buyer
    -- started another method (money that still arrives is applied or refunded like any other).
    -- unapplied: money arrived that could not pay the order; it was refunded automatically.
    status text not null check (status in ('open', 'succeeded', 'superseded', 'unapplied')),
    amount_fen bigint not null check (amount_fen > 0),
    currency text not null default 'cny' check (currency = 'cny'),
    started_by uuid not null references accounts (id),
    -- Stripe: the key sent with the PaymentIntent creation (a retry reuses it), and the intent.
    stripe_idempotency_key text unique,
    payment_intent_id text unique,
    client_secret text,
    -- Bank transfer: what the enterprise writes on its remittance, and, once an admin has
    -- seen the money, the bank's reference for it (one reference pays one order only).
    remittance_reference text unique,
    bank_reference text,
    received_on date,
    confirmed_by uuid references accounts (id),
    -- What arrived (Stripe's amount_received, or the confirmed transfer), in what currency.
    received_fen bigint check (received_fen > 0),
    received_currency text,
    succeeded_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check ((method = 'stripe') = (stripe_idempotency_key is not null)),
    check ((method = 'bank_transfer') = (remittance_reference is not null))
);

create unique index payments_one_open_per_order on payments (order_id) where status = 'open';
create unique index payments_one_success_per_order on payments (order_id) where status = 'succeeded';
create unique index payments_bank_reference_key on payments (bank_reference) where bank_reference is not null;
create index payments_order_idx on payments (order_id, id);
create index payments_created_idx on payments (created_at, id);

-- Each paid line, with how much of it has been refunded (or is being refunded). The checks
-- are what keeps refunds from ever exceeding what was paid, whatever the caller does.
create table paid_lines (
    order_line_id uuid primary key references order_lines (id),
    order_id uuid not null references orders (id),
    group_id uuid not null references order_groups (id),
    producer_id uuid not null references organizations (id),
    payment_id uuid not null references payments (id),
    qty integer not null check (qty > 0),
    amount_fen bigint not null check (amount_fen > 0),
    refunded_qty integer not null default 0,
    refunded_fen bigint not null default 0,
    constraint paid_lines_refund_within_paid check (
        refunded_qty between 0 and qty and refunded_fen between 0 and amount_fen)
);

create index paid_lines_order_idx on paid_lines (order_id);
create index paid_lines_producer_idx on paid_lines (producer_id, payment_id);

create table refunds (
    id uuid primary key,
    order_id uuid not null references orders (id),
    payment_id uuid not null references payments (id),
    -- pending: asked of Stripe (or waiting for an admin's outgoing transfer); succeeded: the
    -- money went back and the ledger has its negative rows; failed: nothing went back.
    status text not null check (status in ('pending', 'succeeded', 'failed')),
    amount_fen bigint not null check (amount_fen > 0),
    reason text not null,
    -- Null for the automatic refund of money that could not pay its order.
    requested_by uuid references accounts (id),
    -- Automatic refunds of unapplied money have no lines.
    automatic boolean not null default false,
    stripe_refund_id text unique,
    bank_reference text unique,
    failure_reason text,
    created_at timestamptz not null default now(),
    completed_at timestamptz
);

create index refunds_order_idx on refunds (order_id, id);
create index refunds_pending_idx on refunds (created_at) where status = 'pending';

create table refund_lines (
    refund_id uuid not null references refunds (id),
    order_line_id uuid not null references paid_lines (order_line_id),
    qty integer not null check (qty > 0),
    amount_fen bigint not null check (amount_fen > 0),
    primary key (refund_id, order_line_id)
);

-- Stripe events already processed: an event's effect and its row commit together, so a
-- repeated or concurrent delivery finds the row and changes nothing.
create table stripe_events (
    id text primary key,
    kind text not null,
    processed_at timestamptz not null default now()
);

-- The assistance ledger: one row per paid order line, a negative row per refunded part of
-- one. Where the money went is snapshotted when it moves, because products and organizations
-- change later. Rows are never changed or removed (triggers below).
create table assistance_ledger (
    id uuid primary key,
    order_line_id uuid not null references order_lines (id),
    order_id uuid not null references orders (id),
    payment_id uuid not null references payments (id),
    refund_id uuid references refunds (id),
    amount_fen bigint not null,
    qty integer not null,
    buyer_id uuid not null references accounts (id),
    buyer_kind text not null check (buyer_kind in ('consumer', 'enterprise')),
    enterprise_id uuid references organizations (id),
    district_adcode integer,
    producer_id uuid not null references organizations (id),
    product_id uuid not null references products (id),
    origin_adcode integer not null,
    prefecture_adcode integer not null,
    category_id integer not null,
    -- When the money moved: the payment's success, or the refund's completion.
    paid_at timestamptz not null,
    recorded_at timestamptz not null default now(),
    check ((refund_id is null and amount_fen > 0 and qty > 0) or (refund_id is not null and amount_fen < 0 and qty <= 0)),
    check ((buyer_kind = 'enterprise') = (enterprise_id is not null))
);

create index assistance_ledger_order_idx on assistance_ledger (order_id, id);
create index assistance_ledger_producer_idx on assistance_ledger (producer_id, id);
create index assistance_ledger_paid_idx on assistance_ledger (paid_at, id);

create function assistance_ledger_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the assistance ledger is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;

create trigger assistance_ledger_no_update_delete
    before update or delete on assistance_ledger
    for each row execute function assistance_ledger_append_only();
create trigger assistance_ledger_no_truncate
    before truncate on assistance_ledger
    for each statement execute function assistance_ledger_append_only();
