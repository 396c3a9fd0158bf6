//! The integration suite: one binary, a module per area.
//!
//! Each test starts its own server (see `helpers`), which logs nothing by default. To see the
//! servers' logs, set `TEST_LOG`:
//!
//! ```text
//! TEST_LOG=1 cargo test --test api                          # logs of the tests that fail
//! TEST_LOG=1 cargo test --test api some_test -- --nocapture # logs of every test, as they run
//! TEST_LOG=1 RUST_LOG=tonggan=trace,sqlx=debug cargo test --test api some_test
//! ```
//!
//! The logs go through libtest's output capture, so each test keeps its own and they are
//! printed with a failing test's output. The filter is `RUST_LOG` when set, else
//! `info,tonggan=debug,sqlx=warn`. `TEST_LOG=0` or an empty value counts as unset.

mod accounts;
mod admin;
mod audit;
mod authorization;
mod catalog;
mod cli;
mod contract;
mod exports;
mod health;
mod helpers;
mod hoarding;
mod hostile_input;
mod idempotency;
mod messages;
mod orders;
mod organizations;
mod payments;
mod placing;
mod price_board;
mod regions;
mod seed;
mod sessions;
mod statements;
mod stripe;
mod tallies;
