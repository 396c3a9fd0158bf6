-- The tallies' fold fires whatever session_replication_role says. The ledger seeder
-- (`tonggan seed --ledger`) bulk-loads with session_replication_role = replica, which skips the
-- row-by-row foreign-key checks (it verifies every foreign key set-wise once at the end
-- instead); the fold must still follow every append, or the tallies would miss the seeded
-- ledger. On a logical-replication subscriber the fold therefore runs too: replicate the
-- ledger, not tally_facts (which `tonggan reconcile --rebuild` can always rebuild).
alter table assistance_ledger enable always trigger assistance_ledger_fold_tallies;
