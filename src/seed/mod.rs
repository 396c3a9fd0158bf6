//! Seeding: the demo (`tonggan seed --demo`) and paid order history on top of it for
//! benchmarks (`tonggan seed --ledger M`).

mod demo;
pub mod integrity;
mod ledger;

pub use demo::{DEMO_ADMIN, DEMO_AUDITOR, DEMO_PASSWORD, demo};
pub use ledger::{LedgerSeeded, ledger};
