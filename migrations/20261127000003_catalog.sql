-- The catalog: categories, products with their price ladders, the public price history and
-- price alerts for admins.
create table categories (
    id integer primary key,
    slug text not null unique,
    name text not null,
    sort_order integer not null
);

insert into categories (id, slug, name, sort_order) values
    (1, 'meat', '牛羊肉', 1),
    (2, 'fruit-veg', '果蔬', 2),
    (3, 'grain-oil', '粮油', 3),
    (4, 'herbs', '中药材', 4),
    (5, 'dairy', '乳制品', 5),
    (6, 'specialty', '特色食品', 6),
    (7, 'eggs-poultry', '禽蛋', 7),
    (8, 'drinks', '酒水饮品', 8);

create table products (
    id uuid primary key,
    producer_id uuid not null references organizations (id),
    category_id integer not null references categories (id),
    title text not null check (char_length(title) between 1 and 120),
    description text not null,
    origin_adcode integer not null references regions (adcode),
    unit text not null,
    spec text not null,
    stock integer not null check (stock >= 0),
    images text[] not null default '{}',
    min_order_qty integer not null check (min_order_qty >= 1),
    -- The ladder [{min_qty, unit_price_fen}], first tier at 1, prices never rising.
    tiers jsonb not null,
    -- The first tier's price, kept beside the ladder for sorting, filtering and the board.
    retail_price_fen bigint not null check (retail_price_fen > 0),
    status text not null default 'draft'
        check (status in ('draft', 'pending_review', 'listed', 'rejected', 'delisted')),
    review_reason text,
    cert_number text,
    cert_issuer text,
    cert_valid_from date,
    cert_valid_until date,
    cert_status text check (cert_status in ('unverified', 'verified', 'revoked')),
    sales_count bigint not null default 0 check (sales_count >= 0),
    -- Whether the producer is verified and not suspended; kept by the accounts area through
    -- catalog::set_producer_active in the same transaction as the producer's status change.
    producer_active boolean not null default false,
    -- Unigrams and bigrams of the lower-cased title and description: a GIN index over them
    -- answers substring search for Chinese queries of any length (see docs/catalog.md).
    search_grams text[] not null default '{}',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint products_cert_complete check (
        (cert_number is null) = (cert_issuer is null)
        and (cert_number is null) = (cert_valid_from is null)
        and (cert_number is null) = (cert_valid_until is null)
        and (cert_number is null) = (cert_status is null)
    ),
    constraint products_cert_dates check (cert_valid_until is null or cert_valid_until >= cert_valid_from)
);

create index products_producer_idx on products (producer_id, id);
create index products_status_idx on products (status, id);
-- Public reads only ever see listed products of active producers.
create index products_public_id_idx on products (id) where status = 'listed' and producer_active;
create index products_public_price_idx on products (retail_price_fen, id) where status = 'listed' and producer_active;
create index products_public_category_price_idx on products (category_id, retail_price_fen, id)
    where status = 'listed' and producer_active;
create index products_public_sales_idx on products (sales_count, id) where status = 'listed' and producer_active;
create index products_search_idx on products using gin (search_grams);

-- Append-only: every change of any tier, with who and why. The first row is the ladder the
-- product was created with.
create table price_changes (
    id uuid primary key,
    product_id uuid not null references products (id),
    changed_by uuid not null references accounts (id),
    changed_at timestamptz not null default now(),
    old_tiers jsonb,
    new_tiers jsonb not null,
    old_retail_fen bigint,
    new_retail_fen bigint not null,
    reason text
);

create index price_changes_product_idx on price_changes (product_id, changed_at, id);

create function price_changes_are_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'price history is append-only';
end;
$$;

create trigger price_changes_append_only before update or delete on price_changes
    for each row execute function price_changes_are_append_only();

create table price_alerts (
    id uuid primary key,
    product_id uuid not null references products (id),
    -- above_median: retail price more than the threshold above its category-unit median;
    -- above_30d_low: raised more than the threshold above its own 30-day low.
    kind text not null check (kind in ('above_median', 'above_30d_low')),
    retail_price_fen bigint not null,
    reference_fen bigint not null,
    threshold_pct integer not null,
    created_at timestamptz not null default now(),
    resolved_at timestamptz,
    resolved_by uuid references accounts (id),
    resolution_note text
);

create index price_alerts_open_idx on price_alerts (created_at, id) where resolved_at is null;
