-- Tallies: the assistance ledger folded at the grain of the order line. One row per (order,
-- product): every dimension a tally groups or filters by is a column (producers' sales also group
-- by product), amounts are net of refunds, and the day is the Shanghai calendar day the order was
-- paid (a refund is attributed to the day of the payment it returns, so a period's figures are
-- always net of everything later refunded from it).
--
-- Why this grain: no two payments ever write the same row (rows are keyed by order), so tallies
-- add no lock queue to payments; and `orders`/`buyers` (orders and buyers with a positive net
-- amount in a group) stay exact for any date range and filter, which per-day counters cannot.
create table tally_facts (
    order_id uuid not null,
    product_id uuid not null,
    producer_id uuid not null,
    origin_adcode integer not null,
    category_id integer not null,
    prefecture_adcode integer not null,
    buyer_id uuid not null,
    buyer_kind text not null,
    enterprise_id uuid,
    district_adcode integer,
    day date not null,
    amount_fen bigint not null,
    qty bigint not null,
    primary key (order_id, product_id)
);

create index tally_facts_day_idx on tally_facts (day);
create index tally_facts_enterprise_idx on tally_facts (enterprise_id, day) where enterprise_id is not null;
create index tally_facts_producer_idx on tally_facts (producer_id, day);

-- The fold: a statement-level trigger on the ledger, so no code path can append ledger rows
-- without the tallies following in the same statement and transaction. Keys are folded in
-- primary-key order, so two refunds of one order lock its rows in the same order.
create function tally_facts_fold() returns trigger language plpgsql as $$
begin
    insert into tally_facts as f (
        order_id, product_id, producer_id, origin_adcode, category_id, prefecture_adcode, buyer_id, buyer_kind,
        enterprise_id, district_adcode, day, amount_fen, qty
    )
    select order_id, product_id, producer_id, origin_adcode, category_id, prefecture_adcode, buyer_id, buyer_kind,
           enterprise_id, district_adcode, (min(paid_at) at time zone 'Asia/Shanghai')::date,
           sum(amount_fen), sum(qty)
    from appended
    group by order_id, product_id, producer_id, origin_adcode, category_id, prefecture_adcode, buyer_id, buyer_kind,
             enterprise_id, district_adcode
    order by order_id, product_id
    on conflict (order_id, product_id) do update
        set amount_fen = f.amount_fen + excluded.amount_fen, qty = f.qty + excluded.qty;
    return null;
end;
$$;

create trigger assistance_ledger_fold_tallies
    after insert on assistance_ledger
    referencing new table as appended
    for each statement execute function tally_facts_fold();

-- An enterprise's annual assistance target (预留份额): an amount, or a percentage of a declared
-- procurement budget (kept so the owner sees what was declared; amount_fen is what counts).
create table assistance_targets (
    enterprise_id uuid not null references organizations (id),
    year integer not null check (year between 2000 and 2200),
    amount_fen bigint not null check (amount_fen > 0),
    percent_bp integer check (percent_bp between 1 and 10000),
    budget_fen bigint check (budget_fen > 0),
    set_by uuid not null references accounts (id),
    set_at timestamptz not null,
    primary key (enterprise_id, year),
    check ((percent_bp is null) = (budget_fen is null))
);

-- Certificates: figures frozen at issue. Only the SHA-256 of the verification code is kept, so
-- reading this table does not give anyone a working code.
create table assistance_certificates (
    code_sha256 text primary key,
    enterprise_id uuid not null references organizations (id),
    year integer not null,
    legal_name text not null,
    uscc text not null,
    amount_fen bigint not null,
    qty bigint not null,
    by_county jsonb not null,
    period_from date not null,
    period_to date not null,
    issued_at timestamptz not null,
    issued_by uuid not null references accounts (id)
);

create index assistance_certificates_enterprise_idx on assistance_certificates (enterprise_id, year, issued_at);

-- What the facts must equal: the ledger folded by order line, refunds on their payment's day.
-- Reconciliation compares the facts with it, and a rebuild (and this migration) fills them from it.
create view ledger_folded as
select order_id, product_id, producer_id, origin_adcode, category_id, prefecture_adcode, buyer_id, buyer_kind,
       enterprise_id, district_adcode,
       (coalesce(min(paid_at) filter (where refund_id is null), min(paid_at)) at time zone 'Asia/Shanghai')::date as day,
       sum(amount_fen)::bigint as amount_fen, sum(qty)::bigint as qty
from assistance_ledger
group by order_id, product_id, producer_id, origin_adcode, category_id, prefecture_adcode, buyer_id, buyer_kind,
         enterprise_id, district_adcode;

-- Ledger rows appended before this migration.
insert into tally_facts (
    order_id, product_id, producer_id, origin_adcode, category_id, prefecture_adcode, buyer_id, buyer_kind,
    enterprise_id, district_adcode, day, amount_fen, qty
)
select order_id, product_id, producer_id, origin_adcode, category_id, prefecture_adcode, buyer_id, buyer_kind,
       enterprise_id, district_adcode, day, amount_fen, qty
from ledger_folded;
