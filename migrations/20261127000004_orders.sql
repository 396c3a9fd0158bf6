-- Orders: carts, orders split into one fulfilment group per producer, their lines, status
-- history, enterprise ordering policy, and idempotency keys for order creation.
create table enterprise_settings (
    organization_id uuid primary key references organizations (id),
    -- Orders by purchasers at or above this total wait for an approver; null: never.
    approval_threshold_fen bigint check (approval_threshold_fen >= 0),
    updated_at timestamptz not null default now()
);

create table cart_items (
    account_id uuid not null references accounts (id),
    product_id uuid not null references products (id),
    qty integer not null check (qty > 0),
    added_at timestamptz not null default now(),
    primary key (account_id, product_id)
);

create table orders (
    id uuid primary key,
    buyer_id uuid not null references accounts (id),
    -- The enterprise the order is placed for; null for a consumer's own order.
    organization_id uuid references organizations (id),
    status text not null check (status in
        ('awaiting_approval', 'pending_payment', 'paid', 'completed', 'cancelled', 'expired')),
    total_fen bigint not null check (total_fen > 0),
    shipping_address jsonb not null,
    po_number text,
    invoice jsonb,
    -- Until when stock stays reserved without payment (or approval).
    expires_at timestamptz not null,
    paid_at timestamptz,
    payment_ref text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index orders_buyer_idx on orders (buyer_id, id);
create index orders_organization_idx on orders (organization_id, id) where organization_id is not null;
create index orders_status_idx on orders (status, id);
create index orders_unpaid_deadline_idx on orders (expires_at)
    where status in ('awaiting_approval', 'pending_payment');

create table order_groups (
    id uuid primary key,
    order_id uuid not null references orders (id),
    producer_id uuid not null references organizations (id),
    status text not null check (status in
        ('pending', 'paid', 'shipped', 'completed', 'cancelled', 'expired')),
    subtotal_fen bigint not null check (subtotal_fen > 0),
    carrier text,
    tracking_no text,
    shipped_at timestamptz,
    completed_at timestamptz,
    unique (order_id, producer_id)
);

create index order_groups_producer_idx on order_groups (producer_id, id);
create index order_groups_shipped_idx on order_groups (shipped_at) where status = 'shipped';

create table order_lines (
    id uuid primary key,
    order_id uuid not null references orders (id),
    group_id uuid not null references order_groups (id),
    product_id uuid not null references products (id),
    title text not null,
    qty integer not null check (qty > 0),
    unit_price_fen bigint not null check (unit_price_fen > 0),
    line_total_fen bigint not null check (line_total_fen = qty * unit_price_fen),
    unique (order_id, product_id)
);

create index order_lines_group_idx on order_lines (group_id);

create table order_status_history (
    id uuid primary key,
    order_id uuid not null references orders (id),
    group_id uuid references order_groups (id),
    -- Null when the system acted (expiry, automatic completion).
    actor_id uuid references accounts (id),
    from_status text,
    to_status text not null,
    note text,
    created_at timestamptz not null default now()
);

create index order_status_history_order_idx on order_status_history (order_id, created_at, id);

create table idempotency_keys (
    account_id uuid not null references accounts (id),
    key text not null,
    request_hash text not null,
    -- in_flight until the first request's reply is stored.
    state text not null check (state in ('in_flight', 'done')),
    response_status integer,
    response_body jsonb,
    created_at timestamptz not null default now(),
    primary key (account_id, key)
);

create index idempotency_keys_created_idx on idempotency_keys (created_at);
