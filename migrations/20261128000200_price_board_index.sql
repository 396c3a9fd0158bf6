-- The price board (docs/catalog.md): per unit of a category, count / min / median / max over
-- every public product, and the cheapest offers by (price, id) a page at a time. Both read
-- this index: the statistics by an index-only scan of the category's entries, each unit's
-- cheapest page by a range scan that stops after `limit` entries. The price alerts' peer
-- prices (same category and unit) read it too.
create index products_public_board_idx on products (category_id, unit, retail_price_fen, id)
    where status = 'listed' and producer_active;
