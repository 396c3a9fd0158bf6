//! Cross-cutting HTTP: extractors, auth guards, pagination, middleware, health and the
//! OpenAPI document.

pub mod auth;
pub mod extract;
pub mod health;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod shape;
pub mod whole;
