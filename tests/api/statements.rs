//! List pages load in a constant number of SQL statements, however many rows they show.
//!
//! sqlx logs every statement as a `sqlx::query` tracing event; a counting layer attributes
//! each one to the request span it ran in (by the `x-request-id` the test sends), so a test can
//! ask how many statements one request made without seeing other tests' requests.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use uuid::Uuid;

use crate::helpers::*;

/// Statements seen per request id.
fn counts() -> &'static Mutex<HashMap<String, usize>> {
    static COUNTS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    COUNTS.get_or_init(Default::default)
}

/// The request id a `request` span was opened with.
struct RequestId(String);

struct FindRequestId(Option<String>);

impl Visit for FindRequestId {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "request_id" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

/// Counts `sqlx::query` events under the `request` span that carries their request id.
pub struct StatementCounter;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StatementCounter {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "request" {
            return;
        }
        let mut visitor = FindRequestId(None);
        attrs.record(&mut visitor);
        if let (Some(request_id), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else { return };
        for span in scope {
            if let Some(RequestId(id)) = span.extensions().get::<RequestId>() {
                *counts().lock().unwrap().entry(id.clone()).or_default() += 1;
                return;
            }
        }
    }
}

/// Sends `GET path` with a fresh request id and returns how many statements it ran.
async fn statements_of(who: &impl Actor, app: &TestApp, path: &str) -> usize {
    let request_id = Uuid::now_v7().to_string();
    let r = who.client().get(app.url(path)).header("x-request-id", &request_id).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    counts().lock().unwrap().get(&request_id).copied().unwrap_or(0)
}

async fn orders(app: &TestApp, buyer: &User, product: Uuid, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(app.as_(buyer).place_order(&[(product, 1)]).await.id);
    }
    ids
}

#[tokio::test]
async fn the_order_list_page_runs_the_same_statements_for_one_order_as_for_twenty() {
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let admin = app.admin().await;
    let producer = app.verified_producer().await;
    let product = app.stocked_product(&producer, 1000, 1000).await;
    let buyer = app.consumer().await;

    orders(&app, &buyer, product, 1).await;
    let one = statements_of(&buyer, &app, "/api/v1/orders").await;
    let admin_one = statements_of(admin, &app, "/api/v1/admin/orders").await;
    orders(&app, &buyer, product, 19).await;
    let twenty = statements_of(&buyer, &app, "/api/v1/orders").await;
    let admin_twenty = statements_of(admin, &app, "/api/v1/admin/orders").await;

    assert!(one > 0, "the counter saw no statements");
    assert_eq!(one, twenty, "the buyer's order list ran {one} statements for 1 order and {twenty} for 20");
    assert_eq!(admin_one, admin_twenty, "the admin order list ran {admin_one} and {admin_twenty}");
    eprintln!("order list page: {one} statements (admin list: {admin_one})");
}

#[tokio::test]
async fn the_producer_group_page_runs_the_same_statements_for_one_group_as_for_ten() {
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let producer = app.verified_producer().await;
    let product = app.stocked_product(&producer, 1000, 1000).await;
    let buyer = app.consumer().await;

    let first = orders(&app, &buyer, product, 1).await;
    tonggan::orders::mark_paid(&app.state, first[0], "pay-0").await.unwrap();
    let one = statements_of(&producer, &app, "/api/v1/producer/order-groups").await;
    for (i, id) in orders(&app, &buyer, product, 9).await.into_iter().enumerate() {
        tonggan::orders::mark_paid(&app.state, id, &format!("pay-{}", i + 1)).await.unwrap();
    }
    let ten = statements_of(&producer, &app, "/api/v1/producer/order-groups").await;

    assert!(one > 0, "the counter saw no statements");
    assert_eq!(one, ten, "the producer's group list ran {one} statements for 1 group and {ten} for 10");
    eprintln!("producer group page: {one} statements");
}
