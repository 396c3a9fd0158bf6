//! tonggan (同甘): a consumption-assistance marketplace backend. See README.md and docs/.

// First, so that `msg!` is in scope in every module after it.
#[macro_use]
pub mod i18n;
pub mod accounts;
pub mod audit;
pub mod cache;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod digest;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod identity;
pub mod jobs;
pub mod orders;
pub mod password;
pub mod payments;
pub mod rate_limit;
pub mod regions;
pub mod seed;
pub mod session;
pub mod startup;
pub mod state;
pub mod stripe;
pub mod tallies;
pub mod telemetry;
pub mod text;
pub mod throttle;
pub mod trail;
pub mod workflows;
