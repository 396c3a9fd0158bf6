-- Limits against stock hoarding (issue 12): every placement reads what its buyer scope holds
-- unpaid. Summing each open order's lines made that grow with the lines of every open order
-- (124 ms per batch in the benchmark, whose 16 buyers are exempt from the limits and held
-- 25,000 unpaid orders by its end). Each order now records its units, so the check reads one
-- row per open order through orders_open_consumer_idx / orders_open_organization_idx.
alter table orders add column units bigint not null default 0 check (units >= 0);
update orders o set units = coalesce((select sum(l.qty) from order_lines l where l.order_id = o.id), 0);
