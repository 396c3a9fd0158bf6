//! tonggan (同甘): a consumption-assistance marketplace backend. See README.md and docs/.

pub mod accounts;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod jobs;
pub mod orders;
pub mod regions;
pub mod seed;
pub mod session;
pub mod startup;
pub mod telemetry;
