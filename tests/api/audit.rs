//! The audit log: audited actions append exactly one entry each (none when they fail or are
//! replayed), the list and its filters, who may read it, verifying the chain over HTTP and on
//! the command line, tampering found at the right entry, the database's append-only guard, and
//! concurrent writers.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use stripe_webhook::Webhook;
use uuid::Uuid;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use tonggan::accounts::model::AccountRole;

use crate::helpers::*;

// ---- looking at the log -------------------------------------------------------------------

/// The number of the last entry (0 for an empty log).
async fn last_seq(app: &TestApp) -> i64 {
    sqlx::query_scalar("select coalesce(max(seq), 0)::bigint from audit_log").fetch_one(&app.db).await.unwrap()
}

/// The entries appended after `seq`, oldest first, without their hashes.
async fn appended_since(app: &TestApp, seq: i64) -> Vec<Value> {
    sqlx::query_scalar(
        "select to_jsonb(a) - 'content_sha256' - 'prev_hash' - 'hash' from audit_log a where seq > $1 order by seq",
    )
    .bind(seq)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Asserts that an entry is `action` on `target_kind`/`target_id` by `actor` (an account id,
/// or None for the system) in `role`.
fn assert_entry(entry: &Value, action: &str, target: (&str, Uuid), actor: Option<Uuid>, role: &str) {
    assert_eq!(entry["action"], action, "{entry}");
    assert_eq!(entry["target_kind"], target.0, "{entry}");
    assert_eq!(entry["target_id"], target.1.to_string(), "{entry}");
    assert_eq!(entry["actor_id"], actor.map_or(Value::Null, |a| json!(a)), "{entry}");
    assert_eq!(entry["actor_role"], role, "{entry}");
}

/// Runs `sql` against the log with its update/delete guard switched off, as someone with the
/// database owner's rights could.
async fn behind_the_guard(app: &TestApp, sql: &str) {
    let mut tx = app.db.begin().await.unwrap();
    for statement in [
        "alter table audit_log disable trigger audit_log_no_update_delete",
        sql,
        "alter table audit_log enable trigger audit_log_no_update_delete",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// `GET /admin/audit-log/verify` as `who`.
async fn verify(app: &TestApp, who: &impl Actor) -> Value {
    let r = app.as_(who).get("/api/v1/admin/audit-log/verify").await;
    assert_eq!(r.status(), 200);
    parse(r).await
}

fn tonggan(app: &TestApp) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tonggan"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("APP_ENVIRONMENT", "test")
        .env("APP__DATABASE__URL", app.settings.database.url.expose_secret());
    command
}

/// `tonggan audit-verify` against the app's database.
fn verify_on_the_command_line(app: &TestApp) -> Output {
    tonggan(app).arg("audit-verify").output().unwrap()
}

// ---- a shop with a Stripe stand-in ----------------------------------------------------------

/// The webhook secret of config/default.toml, which the tests keep.
const WEBHOOK_SECRET: &str = "whsec_tonggan_development";

/// Answers PaymentIntents and refunds as Stripe does (refunds succeed at once).
struct FakeStripe;

impl Respond for FakeStripe {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let f: BTreeMap<String, String> = form_urlencoded::parse(&request.body).into_owned().collect();
        let key = request.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let suffix = tonggan::digest::sha256_hex(&[key.as_bytes()], 8);
        match request.url.path() {
            "/v1/payment_intents" => ResponseTemplate::new(200).set_body_json(json!({
                "object": "payment_intent", "id": format!("pi_{suffix}"), "amount": f["amount"].parse::<i64>().unwrap(),
                "currency": f["currency"], "status": "requires_payment_method",
                "client_secret": format!("pi_{suffix}_secret_test"), "metadata": {}, "latest_charge": null
            })),
            "/v1/refunds" => ResponseTemplate::new(200).set_body_json(json!({
                "object": "refund", "id": format!("re_{suffix}"), "amount": f["amount"].parse::<i64>().unwrap(),
                "currency": "cny", "status": "succeeded", "payment_intent": f["payment_intent"], "charge": null,
                "metadata": {}
            })),
            other => ResponseTemplate::new(404).set_body_string(format!("no fake for {other}")),
        }
    }
}

/// An app on a fake Stripe, with a producer's listed apples, a consumer and an enterprise.
struct Shop {
    app: TestApp,
    _stripe: MockServer,
    apples: Uuid,
    consumer: User,
    enterprise: Owner,
}

async fn shop() -> Shop {
    let stripe = MockServer::start().await;
    Mock::given(method("POST")).respond_with(FakeStripe).mount(&stripe).await;
    let uri = stripe.uri();
    let app = TestApp::spawn_with(move |s| {
        s.stripe.api_base = uri;
        s.stripe.timeout_secs = 1;
        s.orders.jobs_enabled = false;
    })
    .await;
    let producer = app.verified_producer().await;
    let apples = app.stocked_product(&producer, 100, 1000).await;
    let consumer = app.consumer().await;
    let enterprise = app.verified_enterprise().await;
    Shop { app, _stripe: stripe, apples, consumer, enterprise }
}

impl Shop {
    /// Starts paying `order` by `method`; the reply.
    async fn start(&self, who: &impl Actor, order: Uuid, method: &str) -> Value {
        let r = who
            .client()
            .post(self.app.url(&format!("/api/v1/orders/{order}/payments")))
            .header("idempotency-key", Uuid::now_v7().to_string())
            .json(&json!({ "method": method }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        parse(r).await
    }

    /// Delivers a signed `payment_intent.succeeded` event with this event id.
    async fn deliver_succeeded(&self, event_id: &str, intent: &str, amount: i64) -> reqwest::Response {
        let body = json!({
            "id": event_id, "object": "event", "type": "payment_intent.succeeded",
            "created": chrono::Utc::now().timestamp(), "api_version": "2026-07-29.dahlia", "livemode": false,
            "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
            "data": {"object": {
                "object": "payment_intent", "id": intent, "amount": amount, "amount_received": amount,
                "currency": "cny", "status": "succeeded", "client_secret": format!("{intent}_secret_test"),
                "metadata": {}, "latest_charge": "ch_test"
            }}
        })
        .to_string();
        let header = Webhook::generate_test_header(&body, WEBHOOK_SECRET, None);
        reqwest::Client::new()
            .post(self.app.url("/api/v1/payments/stripe/webhook"))
            .header("stripe-signature", header)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts a refund request with this idempotency key.
    async fn refund(&self, who: &impl Actor, order: Uuid, key: &str, body: &Value) -> reqwest::Response {
        who.client()
            .post(self.app.url(&format!("/api/v1/admin/orders/{order}/refunds")))
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn confirm(&self, order: Uuid, body: &Value) -> reqwest::Response {
        let admin = self.app.admin().await;
        self.app.as_(admin).post(&format!("/api/v1/admin/bank-transfers/{order}/confirm"), body).await
    }
}

// ---- audited actions ----------------------------------------------------------------------

#[tokio::test]
async fn organization_decisions_append_one_entry_each_by_the_admin_and_a_refused_one_none() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let producer = app.organization("producer").await;
    let enterprise = app.organization("enterprise").await;

    let before = last_seq(&app).await;
    assert_eq!(app.as_(admin).verify(producer.org).await.status(), 200);
    let reject = json!({"reason": "营业执照模糊"});
    let path = format!("/api/v1/admin/organizations/{}/reject", enterprise.org);
    assert_eq!(app.as_(admin).post(&path, &reject).await.status(), 200);
    assert_eq!(app.as_(admin).suspend(producer.org, "抽检不合格").await.status(), 200);

    let entries = appended_since(&app, before).await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    let target = ("organization", producer.org);
    assert_entry(&entries[0], "organization.verify", target, Some(admin.id), "admin");
    assert_eq!(entries[0]["detail"], json!({"kind": "producer", "from": "pending", "to": "verified", "reason": null}));
    assert_entry(&entries[1], "organization.reject", ("organization", enterprise.org), Some(admin.id), "admin");
    assert_eq!(entries[1]["detail"]["reason"], "营业执照模糊");
    assert_entry(&entries[2], "organization.suspend", target, Some(admin.id), "admin");
    assert_eq!((&entries[2]["detail"]["from"], &entries[2]["detail"]["to"]), (&json!("verified"), &json!("suspended")));

    // Refused decisions append nothing: a rejected organization cannot be suspended or rejected
    // again, and only admins decide.
    let before = last_seq(&app).await;
    assert_problem(app.as_(admin).suspend(enterprise.org, "再次").await, 409, "invalid_transition").await;
    assert_problem(app.as_(admin).post(&path, &reject).await, 409, "invalid_transition").await;
    let consumer = app.consumer().await;
    assert_problem(app.as_(&consumer).verify(producer.org).await, 403, "forbidden").await;
    assert!(appended_since(&app, before).await.is_empty());
}

#[tokio::test]
async fn listing_review_certification_and_alert_decisions_append_one_entry_each() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let admin_id = app.admin().await.id;
    let producer = app.verified_producer().await;
    let mut body = product_body("静宁苹果", 1000);
    body["certification"] = json!({"number": "GS-2026-001", "issuer": "甘肃省农业农村厅", "valid_from": "2026-01-01", "valid_until": "2030-12-31"});
    let product = app.create_product(&producer, &body).await;
    assert_eq!(app.as_(&producer).submit(product).await.status(), 200);

    let before = last_seq(&app).await;
    assert_eq!(admin.approve_product(product).await.status(), 200);
    let certification = format!("/api/v1/admin/products/{product}/certification");
    assert_eq!(admin.post_empty(&format!("{certification}/verify")).await.status(), 200);
    assert_eq!(admin.post_empty(&format!("{certification}/revoke")).await.status(), 200);
    let entries = appended_since(&app, before).await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_entry(&entries[0], "listing.approve", ("product", product), Some(admin_id), "admin");
    assert_eq!(
        (&entries[0]["detail"]["from"], &entries[0]["detail"]["to"]),
        (&json!("pending_review"), &json!("listed"))
    );
    assert_eq!(entries[0]["detail"]["producer_id"], producer.org.to_string());
    assert_entry(&entries[1], "certification.verify", ("product", product), Some(admin_id), "admin");
    assert_entry(&entries[2], "certification.revoke", ("product", product), Some(admin_id), "admin");
    assert_eq!(entries[2]["detail"]["number"], "GS-2026-001");
    assert_eq!((&entries[2]["detail"]["from"], &entries[2]["detail"]["to"]), (&json!("verified"), &json!("revoked")));

    // A rejected listing records its reason.
    let other = app.create_product(&producer, &product_body("花牛苹果", 1000)).await;
    app.as_(&producer).submit(other).await;
    let before = last_seq(&app).await;
    assert_eq!(admin.reject_product(other, "图片不清").await.status(), 200);
    let entries = appended_since(&app, before).await;
    assert_eq!(entries.len(), 1);
    assert_entry(&entries[0], "listing.reject", ("product", other), Some(admin_id), "admin");
    assert_eq!(entries[0]["detail"]["reason"], "图片不清");

    // A price far above its peers raises an alert; resolving it is logged with the note.
    for title in ["苹果一", "苹果二"] {
        app.listed_product(&producer, &product_body(title, 1000)).await;
    }
    app.create_product(&producer, &product_body("苹果贵", 5000)).await;
    let alerts: Page<Value> = admin.get_json("/api/v1/admin/price-alerts").await;
    let alert: Uuid = alerts.items[0]["id"].as_str().unwrap().parse().unwrap();
    let before = last_seq(&app).await;
    let resolve = format!("/api/v1/admin/price-alerts/{alert}/resolve");
    assert_eq!(admin.post(&resolve, &json!({"note": "已核实"})).await.status(), 200);
    let entries = appended_since(&app, before).await;
    assert_eq!(entries.len(), 1);
    assert_entry(&entries[0], "price_alert.resolve", ("price_alert", alert), Some(admin_id), "admin");
    assert_eq!(entries[0]["detail"]["note"], "已核实");
    assert_eq!(entries[0]["detail"]["retail_price_fen"], 5000);

    // Refused decisions append nothing.
    let before = last_seq(&app).await;
    assert_problem(admin.approve_product(product).await, 409, "invalid_transition").await;
    assert_problem(admin.post_empty(&format!("{certification}/revoke")).await, 409, "invalid_transition").await;
    assert_problem(admin.post(&resolve, &json!({})).await, 409, "invalid_transition").await;
    assert_problem(admin.post(&resolve, &json!({"note": "x", "extra": 1})).await, 422, "validation_failed").await;
    assert_problem(admin.approve_product(Uuid::now_v7()).await, 404, "not_found").await;
    assert!(appended_since(&app, before).await.is_empty());
}

#[tokio::test]
async fn a_webhook_payment_is_logged_once_by_stripe_however_often_the_event_comes() {
    let s = Arc::new(shop().await);
    let order = s.app.as_(&s.consumer).place_order(&[(s.apples, 3)]).await;
    let started = s.start(&s.consumer, order.id, "stripe").await;
    let intent = started["payment_intent_id"].as_str().unwrap().to_string();
    let before = last_seq(&s.app).await;
    assert!(appended_since(&s.app, 0).await.iter().all(|e| e["target_kind"] != "order"), "starting is not logged");

    let event = format!("evt_{}", Uuid::now_v7().simple());
    let total = order.total_fen;
    let mut deliveries = Vec::new();
    for _ in 0..5 {
        let (s, event, intent) = (s.clone(), event.clone(), intent.clone());
        deliveries.push(tokio::spawn(async move { s.deliver_succeeded(&event, &intent, total).await.status() }));
    }
    for d in deliveries {
        assert_eq!(d.await.unwrap(), 200);
    }
    let entries = appended_since(&s.app, before).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_entry(&entries[0], "payment.succeeded", ("order", order.id), None, "system:stripe");
    assert_eq!(entries[0]["detail"]["amount_fen"], order.total_fen);
    assert_eq!(entries[0]["detail"]["currency"], "cny");
    assert_eq!(entries[0]["detail"]["method"], "stripe");
    assert_eq!(entries[0]["detail"]["reference"], intent);

    // Money that cannot pay its order (the wrong amount) is logged as unapplied, with the
    // automatic refund's request and completion.
    let other = s.app.as_(&s.consumer).place_order(&[(s.apples, 1)]).await;
    let started = s.start(&s.consumer, other.id, "stripe").await;
    let intent = started["payment_intent_id"].as_str().unwrap();
    let before = last_seq(&s.app).await;
    let event = format!("evt_{}", Uuid::now_v7().simple());
    assert_eq!(s.deliver_succeeded(&event, intent, other.total_fen - 1).await.status(), 200);
    let entries = appended_since(&s.app, before).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["payment.unapplied", "refund.request", "refund.complete"]);
    assert!(entries.iter().all(|e| e["actor_role"] == "system:stripe" && e["target_id"] == other.id.to_string()));
    assert_eq!(entries[0]["detail"]["refund_id"], entries[2]["detail"]["refund_id"]);
    assert_eq!(entries[1]["detail"]["automatic"], true);
}

#[tokio::test]
async fn a_confirmed_bank_transfer_logs_the_confirmation_and_the_payment_and_refused_ones_nothing() {
    let s = shop().await;
    let admin = s.app.admin().await;
    let order = s.app.as_(&s.enterprise).place_order(&[(s.apples, 2)]).await;
    s.start(&s.enterprise, order.id, "bank_transfer").await;

    let before = last_seq(&s.app).await;
    let wrong = json!({"amount_fen": order.total_fen + 1, "bank_reference": "BOC-1", "received_at": "2026-11-26"});
    assert_problem(s.confirm(order.id, &wrong).await, 422, "amount_mismatch").await;
    assert!(appended_since(&s.app, before).await.is_empty());

    let right = json!({"amount_fen": order.total_fen, "bank_reference": "BOC-1", "received_at": "2026-11-26"});
    assert_eq!(s.confirm(order.id, &right).await.status(), 200);
    let entries = appended_since(&s.app, before).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_entry(&entries[0], "bank_transfer.confirm", ("order", order.id), Some(admin.id), "admin");
    assert_eq!(entries[0]["detail"]["amount_fen"], order.total_fen);
    assert_eq!(entries[0]["detail"]["bank_reference"], "BOC-1");
    assert_eq!(entries[0]["detail"]["received_on"], "2026-11-26");
    assert_entry(&entries[1], "payment.succeeded", ("order", order.id), Some(admin.id), "admin");
    assert_eq!(entries[1]["detail"]["method"], "bank_transfer");
    assert_eq!(entries[1]["detail"]["payment_id"], entries[0]["detail"]["payment_id"]);

    let before = last_seq(&s.app).await;
    assert_problem(s.confirm(order.id, &right).await, 409, "order_already_paid").await;
    assert!(appended_since(&s.app, before).await.is_empty());

    // Its refund waits for the outgoing transfer, which the admin records.
    let r = s.refund(admin, order.id, "refund-1", &json!({"full": true, "reason": "企业取消采购"})).await;
    assert_eq!(r.status(), 201);
    let refund: Value = r.json().await.unwrap();
    let done = s
        .app
        .as_(admin)
        .post(
            &format!("/api/v1/admin/refunds/{}/complete", refund["id"].as_str().unwrap()),
            &json!({"bank_reference": "OUT-1"}),
        )
        .await;
    assert_eq!(done.status(), 200);
    let entries = appended_since(&s.app, before).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_entry(&entries[0], "refund.request", ("order", order.id), Some(admin.id), "admin");
    assert_entry(&entries[1], "refund.complete", ("order", order.id), Some(admin.id), "admin");
    assert_eq!(entries[1]["detail"]["refund_id"], refund["id"]);
    assert_eq!(entries[1]["detail"]["bank_reference"], "OUT-1");
    assert_eq!(entries[1]["detail"]["amount_fen"], order.total_fen);
}

#[tokio::test]
async fn a_refund_logs_its_request_by_the_admin_and_its_completion_by_stripe_once_even_when_replayed() {
    let s = shop().await;
    let admin = s.app.admin().await;
    let order = s.app.as_(&s.consumer).place_order(&[(s.apples, 3)]).await;
    let started = s.start(&s.consumer, order.id, "stripe").await;
    let event = format!("evt_{}", Uuid::now_v7().simple());
    let intent = started["payment_intent_id"].as_str().unwrap();
    assert_eq!(s.deliver_succeeded(&event, intent, order.total_fen).await.status(), 200);
    let line = order.line(s.apples).id;

    let before = last_seq(&s.app).await;
    let too_much = json!({"lines": [{"line_id": line, "qty": 4}], "reason": "多退"});
    assert_problem(s.refund(admin, order.id, "too-much", &too_much).await, 422, "refund_exceeds_paid").await;
    assert!(appended_since(&s.app, before).await.is_empty());

    let body = json!({"lines": [{"line_id": line, "qty": 1}], "reason": "一箱破损"});
    let r = s.refund(admin, order.id, "refund-one-box", &body).await;
    assert_eq!(r.status(), 201);
    let refund: Value = r.json().await.unwrap();
    let replay = s.refund(admin, order.id, "refund-one-box", &body).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers().get("idempotent-replayed").unwrap(), "true");

    let entries = appended_since(&s.app, before).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_entry(&entries[0], "refund.request", ("order", order.id), Some(admin.id), "admin");
    assert_eq!(entries[0]["detail"]["refund_id"], refund["id"]);
    assert_eq!(entries[0]["detail"]["amount_fen"], 1000);
    assert_eq!(entries[0]["detail"]["reason"], "一箱破损");
    assert_eq!(entries[0]["detail"]["lines"], json!([{"line_id": line, "qty": 1, "amount_fen": 1000}]));
    assert_entry(&entries[1], "refund.complete", ("order", order.id), None, "system:stripe");
    assert_eq!(entries[1]["detail"]["refund_id"], refund["id"]);
    assert_eq!(entries[1]["detail"]["amount_fen"], 1000);
}

#[tokio::test]
async fn staff_created_on_the_command_line_is_logged_by_the_cli_and_a_refused_creation_is_not() {
    let app = TestApp::spawn().await;
    let create = |email: &str| {
        let mut child = tonggan(&app)
            .args(["admin", "create", "--email", email, "--role", "auditor", "--name", "审计员"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"an-auditor-password\n").unwrap();
        child.wait_with_output().unwrap()
    };
    let email = unique_email("auditor");
    let created = create(&email);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let account: Uuid =
        sqlx::query_scalar("select id from accounts where email = $1").bind(&email).fetch_one(&app.db).await.unwrap();
    let entries = appended_since(&app, 0).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_entry(&entries[0], "staff.create", ("account", account), None, "system:cli");
    assert_eq!(entries[0]["detail"], json!({"email": email, "role": "auditor", "display_name": "审计员"}));

    let again = create(&email);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(last_seq(&app).await, 1);
}

// ---- reading the log ----------------------------------------------------------------------

#[tokio::test]
async fn only_admins_and_auditors_read_and_verify_the_log() {
    let app = TestApp::spawn().await;
    let auditor = app.staff(AccountRole::Auditor).await;
    let consumer = app.consumer().await;
    let enterprise = app.verified_enterprise().await;
    let producer = app.verified_producer().await;
    let before = last_seq(&app).await;
    for path in ["/api/v1/admin/audit-log", "/api/v1/admin/audit-log/verify"] {
        assert_problem(app.anonymous().get(path).await, 401, "unauthenticated").await;
        assert_problem(app.as_(&consumer).get(path).await, 403, "forbidden").await;
        assert_problem(app.as_(&enterprise).get(path).await, 403, "forbidden").await;
        assert_problem(app.as_(&producer).get(path).await, 403, "forbidden").await;
        assert_eq!(app.as_(&auditor).get(path).await.status(), 200);
        assert_eq!(app.as_(app.admin().await).get(path).await.status(), 200);
    }
    let page: Page<Value> = app.as_(&auditor).get_json("/api/v1/admin/audit-log").await;
    assert_eq!(page.items.len(), 2, "the two verifications");
    assert_eq!(last_seq(&app).await, before, "reading is not logged");

    let doc: Value = app.anonymous().get_json("/api/v1/openapi.json").await;
    for path in ["/api/v1/admin/audit-log", "/api/v1/admin/audit-log/verify"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} is in the OpenAPI document");
    }
}

#[tokio::test]
async fn the_list_goes_newest_first_in_pages_and_filters_by_actor_action_target_and_time() {
    let app = TestApp::spawn().await;
    let first_admin = app.admin().await;
    let second_admin = app.staff(AccountRole::Admin).await;
    let mut orgs = Vec::new();
    for _ in 0..3 {
        orgs.push(app.organization("enterprise").await);
    }
    for owner in &orgs[..2] {
        assert_eq!(app.as_(first_admin).verify(owner.org).await.status(), 200);
    }
    let middle = chrono::Utc::now();
    assert_eq!(app.as_(&second_admin).verify(orgs[2].org).await.status(), 200);
    assert_eq!(app.as_(&second_admin).suspend(orgs[0].org, "核查").await.status(), 200);
    let reader = app.as_(&second_admin);

    // Pages of two, newest first, with every entry once.
    let mut seqs = Vec::new();
    let mut path = "/api/v1/admin/audit-log?limit=2".to_string();
    loop {
        let page: Page<Value> = reader.get_json(&path).await;
        assert!(page.items.len() <= 2);
        seqs.extend(page.items.iter().map(|e| e["seq"].as_i64().unwrap()));
        match page.next_cursor {
            Some(cursor) => path = format!("/api/v1/admin/audit-log?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seqs, [4, 3, 2, 1]);
    let first: Page<Value> = reader.get_json("/api/v1/admin/audit-log?limit=1").await;
    let entry = &first.items[0];
    assert_eq!(entry["hash"].as_str().unwrap().len(), 64);
    assert_eq!(entry["detail"]["reason"], "核查");

    let seqs_of = |query: &str| {
        let reader = reader.clone();
        let query = query.to_string();
        async move {
            let r = reader.get(&format!("/api/v1/admin/audit-log?{query}")).await;
            assert_eq!(r.status(), 200, "{query}");
            let page: Page<Value> = parse(r).await;
            page.items.iter().map(|e| e["seq"].as_i64().unwrap()).collect::<Vec<_>>()
        }
    };
    assert_eq!(seqs_of(&format!("actor={}", first_admin.id)).await, [2, 1]);
    assert_eq!(seqs_of(&format!("actor={}", second_admin.id)).await, [4, 3]);
    assert_eq!(seqs_of("action=organization.suspend").await, [4]);
    assert_eq!(seqs_of("action=organization.verify").await, [3, 2, 1]);
    assert_eq!(seqs_of(&format!("target_kind=organization&target_id={}", orgs[0].org)).await, [4, 1]);
    assert_eq!(seqs_of("target_kind=order").await, Vec::<i64>::new());
    let middle = middle.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).replace('+', "%2B");
    assert_eq!(seqs_of(&format!("from={middle}")).await, [4, 3]);
    assert_eq!(seqs_of(&format!("to={middle}")).await, [2, 1]);
    assert_eq!(seqs_of(&format!("from={middle}&action=organization.verify")).await, [3]);

    let problem = assert_problem(
        reader.get(&format!("/api/v1/admin/audit-log?target_id={}", orgs[0].org)).await,
        422,
        "validation_failed",
    )
    .await;
    field_errors(&problem, "target_id");
    for bad in ["actor=someone", "from=yesterday", "limit=0", "cursor=nope", "target=x"] {
        assert_problem(reader.get(&format!("/api/v1/admin/audit-log?{bad}")).await, 422, "validation_failed").await;
    }
}

// ---- verifying the chain ------------------------------------------------------------------

#[tokio::test]
async fn verify_walks_an_intact_chain_and_names_the_first_entry_changed_behind_the_guard() {
    let app = TestApp::spawn().await;
    let auditor = app.staff(AccountRole::Auditor).await;
    assert_eq!(verify(&app, &auditor).await, json!({"ok": true, "entries": 0, "last_seq": null, "last_hash": null}));
    for _ in 0..5 {
        let owner = app.organization("enterprise").await;
        assert_eq!(app.as_(app.admin().await).verify(owner.org).await.status(), 200);
    }
    let last_hash: String =
        sqlx::query_scalar("select encode(hash, 'hex') from audit_log where seq = 5").fetch_one(&app.db).await.unwrap();
    assert_eq!(verify(&app, &auditor).await, json!({"ok": true, "entries": 5, "last_seq": 5, "last_hash": last_hash}));
    let ok = verify_on_the_command_line(&app);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact: 5 entries"));

    // Each kind of damage, one at a time, is named at its entry, over HTTP and on the command line.
    let original: Value =
        sqlx::query_scalar("select detail from audit_log where seq = 3").fetch_one(&app.db).await.unwrap();
    for (damage, repair, seq, problem) in [
        (
            "update audit_log set detail = jsonb_set(detail, '{to}', '\"rejected\"') where seq = 3".to_string(),
            format!("update audit_log set detail = '{original}' where seq = 3"),
            3,
            "content hash does not match",
        ),
        (
            "update audit_log set hash = sha256('forged') where seq = 2".to_string(),
            "update audit_log set hash = sha256(prev_hash || content_sha256) where seq = 2".to_string(),
            2,
            "hash does not match",
        ),
        (
            "update audit_log set prev_hash = sha256('forged') where seq = 4".to_string(),
            "update audit_log a set prev_hash = (select hash from audit_log b where b.seq = 3) where seq = 4"
                .to_string(),
            4,
            "prev_hash does not match the previous entry's hash",
        ),
        (
            "update audit_log set seq = 40 where seq = 4".to_string(),
            "update audit_log set seq = 4 where seq = 40".to_string(),
            5,
            "sequence gap",
        ),
    ] {
        behind_the_guard(&app, &damage).await;
        let found = verify(&app, &auditor).await;
        assert_eq!(found["ok"], false, "{damage}");
        assert_eq!(found["first_bad"], json!({"seq": seq, "problem": problem}), "{damage}");
        assert_eq!(found["entries_checked"], if seq == 5 { 4 } else { seq }, "{damage}");
        let cli = verify_on_the_command_line(&app);
        assert!(!cli.status.success(), "{damage}");
        let said = String::from_utf8_lossy(&cli.stderr);
        assert!(said.contains(&format!("entry {seq}: {problem}")), "{damage}: {said}");
        behind_the_guard(&app, &repair).await;
        assert_eq!(verify(&app, &auditor).await["ok"], true, "repaired: {repair}");
    }
}

#[tokio::test]
async fn the_database_refuses_to_update_delete_or_truncate_the_log() {
    let app = TestApp::spawn().await;
    let owner = app.organization("enterprise").await;
    assert_eq!(app.as_(app.admin().await).verify(owner.org).await.status(), 200);
    let before = appended_since(&app, 0).await;
    for (statement, op) in [
        ("update audit_log set detail = '{}'", "UPDATE"),
        ("delete from audit_log", "DELETE"),
        ("truncate audit_log", "TRUNCATE"),
    ] {
        let error = sqlx::query(statement).execute(&app.db).await.unwrap_err();
        let error = error.as_database_error().expect("a database error");
        assert_eq!(error.code().as_deref(), Some("42501"), "{statement}: insufficient_privilege");
        assert_eq!(error.message(), format!("the audit log is append-only: {op} is not allowed"));
    }
    assert_eq!(appended_since(&app, 0).await, before);
}

#[tokio::test]
async fn thirty_concurrent_audited_actions_leave_a_contiguous_chain_that_verifies() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let producer = app.verified_producer().await;
    let mut owners = Vec::new();
    let mut products = Vec::new();
    for i in 0..15 {
        owners.push(app.organization("enterprise").await);
        let product = app.create_product(&producer, &product_body(&format!("苹果{i}"), 1000)).await;
        app.as_(&producer).submit(product).await;
        products.push(product);
    }
    let before = last_seq(&app).await;
    let mut tasks = Vec::new();
    for (owner, product) in owners.iter().zip(&products) {
        let (admin, org, product) = (admin.clone(), owner.org, *product);
        let verifier = admin.clone();
        tasks.push(tokio::spawn(async move { verifier.verify(org).await.status() }));
        tasks.push(tokio::spawn(async move { admin.approve_product(product).await.status() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let seqs: Vec<i64> = sqlx::query_scalar("select seq from audit_log order by seq").fetch_all(&app.db).await.unwrap();
    assert_eq!(seqs, (1..=before + 30).collect::<Vec<_>>());
    let entries = appended_since(&app, before).await;
    assert_eq!(entries.iter().filter(|e| e["action"] == "organization.verify").count(), 15);
    assert_eq!(entries.iter().filter(|e| e["action"] == "listing.approve").count(), 15);
    let out_of_time_order: i64 = sqlx::query_scalar(
        "select count(*) from (select at < lag(at) over (order by seq) as earlier from audit_log) a where earlier",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(out_of_time_order, 0, "entries in seq order are in time order");
    let found = verify(&app, app.admin().await).await;
    assert_eq!((found["ok"].clone(), found["entries"].clone()), (json!(true), json!(before + 30)));
}
