//! The integration suite: one binary, a module per area.

mod accounts;
mod admin;
mod catalog;
mod cli;
mod health;
mod helpers;
mod orders;
mod organizations;
mod regions;
mod sessions;
mod statements;
mod stripe;
