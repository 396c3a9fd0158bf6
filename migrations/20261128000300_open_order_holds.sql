-- Limits against stock hoarding, counted in constant time (issue 12). Every placement reads
-- what its buyer scope holds unpaid; counting the scope's unpaid orders and summing their lines
-- grew with every open order (124 ms per batch for 16 buyers holding 25,000 orders between
-- them). Instead each order records its units, and one row per scope holds the running totals,
-- kept by triggers on orders, so no code path that moves an order out of unpaid can forget it.

alter table orders add column units bigint not null default 0 check (units >= 0);
update orders o set units = coalesce((select sum(l.qty) from order_lines l where l.order_id = o.id), 0);

-- A scope is a consumer's own orders ('consumer', account) or an enterprise's, all members'
-- together ('enterprise', organization).
create table open_order_holds (
    scope text not null check (scope in ('consumer', 'enterprise')),
    scope_id uuid not null,
    open_orders bigint not null check (open_orders >= 0),
    reserved_units bigint not null check (reserved_units >= 0),
    primary key (scope, scope_id)
);

insert into open_order_holds (scope, scope_id, open_orders, reserved_units)
select case when organization_id is null then 'consumer' else 'enterprise' end,
       coalesce(organization_id, buyer_id), count(*), sum(units)
from orders where status in ('awaiting_approval', 'pending_payment')
group by 1, 2;

-- New unpaid orders add to their scope: once per scope per statement (a placement batch
-- inserts many orders in one statement).
create function open_order_holds_insert() returns trigger language plpgsql as $$
begin
    insert into open_order_holds as h (scope, scope_id, open_orders, reserved_units)
    select case when organization_id is null then 'consumer' else 'enterprise' end,
           coalesce(organization_id, buyer_id), count(*), sum(units)
    from new_orders where status in ('awaiting_approval', 'pending_payment')
    group by 1, 2
    on conflict (scope, scope_id) do update
        set open_orders = h.open_orders + excluded.open_orders,
            reserved_units = h.reserved_units + excluded.reserved_units;
    return null;
end $$;

create trigger orders_open_holds_insert after insert on orders
    referencing new table as new_orders for each statement execute function open_order_holds_insert();

-- An order leaving unpaid (paid, cancelled, rejected, expired) gives its room back; one
-- coming back to unpaid (no transition does today) takes it again.
create function open_order_holds_update() returns trigger language plpgsql as $$
declare
    was_open boolean := old.status in ('awaiting_approval', 'pending_payment');
    is_open boolean := new.status in ('awaiting_approval', 'pending_payment');
    sign bigint;
begin
    if was_open = is_open then
        return null;
    end if;
    sign := case when is_open then 1 else -1 end;
    insert into open_order_holds as h (scope, scope_id, open_orders, reserved_units)
    values (case when new.organization_id is null then 'consumer' else 'enterprise' end,
            coalesce(new.organization_id, new.buyer_id), greatest(sign, 0), greatest(sign * new.units, 0))
    on conflict (scope, scope_id) do update
        set open_orders = h.open_orders + sign,
            reserved_units = h.reserved_units + sign * new.units;
    return null;
end $$;

create trigger orders_open_holds_update after update of status on orders
    for each row execute function open_order_holds_update();
