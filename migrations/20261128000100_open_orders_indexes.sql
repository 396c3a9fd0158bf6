-- Limits against stock hoarding (docs/orders.md): every order placement counts its buyer's
-- unpaid orders (a consumer's own, or an enterprise's, all members' together). These partial
-- indexes hold only unpaid orders, so the count reads a handful of entries however long the
-- buyer's history is; the wider orders_buyer_idx and orders_organization_idx would walk all of it.
create index orders_open_consumer_idx on orders (buyer_id)
    where organization_id is null and status in ('awaiting_approval', 'pending_payment');
create index orders_open_organization_idx on orders (organization_id)
    where organization_id is not null and status in ('awaiting_approval', 'pending_payment');
