//! The Stripe edge (`tonggan::stripe`): its types against Stripe's own objects, the
//! webhook signature check, the exact requests the client sends and how each failure is
//! classified (against wiremock), and a whole payment against localstripe when
//! `LOCALSTRIPE_URL` is set (`eval "$(scripts/localstripe.sh)"`).

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use stripe_webhook::Webhook;
use uuid::Uuid;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use tonggan::config::{Environment, StripeSettings};
use tonggan::stripe::{
    Charge, Event, EventObject, PaymentIntent, Refund, SignatureError, StripeClient, StripeError, parse_event,
    verify_signature,
};

const SECRET_KEY: &str = "sk_test_tonggan_contract";
const CNY_ORDER_ID: &str = "0193a0b4-0000-7000-8000-000000000001";

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stripe").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn settings(api_base: &str, timeout_secs: u64) -> StripeSettings {
    StripeSettings {
        secret_key: SecretString::from(SECRET_KEY),
        webhook_secret: SecretString::from("whsec_unused"),
        api_base: api_base.to_owned(),
        timeout_secs,
    }
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---- 0. Settings ---------------------------------------------------------------------------

#[test]
fn stripe_settings_are_checked_and_production_refuses_the_development_secrets() {
    let error = |s: &tonggan::config::Settings, env| s.check(env).map_err(|e| e.to_string()).err().unwrap_or_default();
    let mut s = crate::helpers::base_settings();
    assert_eq!(s.stripe.timeout_secs, 5);
    assert_eq!(error(&s, Environment::Test), "");
    s.stripe.timeout_secs = s.server.request_timeout_secs;
    assert!(error(&s, Environment::Test).contains("stripe.timeout_secs must be shorter"));
    s.stripe.timeout_secs = 10;
    s.stripe.api_base = "api.stripe.com".into();
    assert!(error(&s, Environment::Test).contains("stripe.api_base"));

    // Otherwise fit for production: only the Stripe settings are left to fix.
    s.session.cookie_secure = true;
    (s.password.argon2_memory_kib, s.password.argon2_iterations) = (19456, 2);
    s.database.url = "postgres://tonggan@db.internal/tonggan".to_owned().into();
    s.stripe.api_base = "https://api.stripe.com/".into();
    s.telemetry.metrics_token = Some("a-metrics-token-of-forty-characters-0001".to_owned().into());
    s.login_throttle.device_cookie_secret = "a-device-cookie-key-of-forty-characters1".to_owned().into();
    assert!(error(&s, Environment::Production).contains("APP__STRIPE__SECRET_KEY"));
    s.stripe.secret_key = "sk_live_not_the_default".to_owned().into();
    assert!(error(&s, Environment::Production).contains("APP__STRIPE__WEBHOOK_SECRET"));
    s.stripe.webhook_secret = "whsec_not_the_default".to_owned().into();
    assert_eq!(error(&s, Environment::Production), "");
    s.stripe.api_base = "http://api.stripe.com/".into();
    assert!(error(&s, Environment::Production).contains("https"));
}

// ---- 1. Stripe's own objects parse into the service's types --------------------------------

#[test]
fn a_succeeded_cny_payment_intent_parses() {
    let pi: PaymentIntent = serde_json::from_slice(&fixture("payment_intent_succeeded_cny.json")).unwrap();
    let expected = fixture_json("payment_intent_succeeded_cny.json");
    assert_eq!(pi.id, expected["id"].as_str().unwrap());
    assert_eq!(pi.amount, 12345);
    assert_eq!(pi.currency, "cny");
    assert_eq!(pi.status, "succeeded");
    assert_eq!(pi.metadata.get("order_id").map(String::as_str), Some(CNY_ORDER_ID));
    assert_eq!(pi.client_secret.as_deref(), expected["client_secret"].as_str());
    assert_eq!(pi.latest_charge.as_deref(), Some("ch_3Pgb7xB7WZ01zgkW0KxY2mCq"));
}

#[test]
fn stripes_payment_intent_refund_and_charge_fixtures_parse() {
    let pi: PaymentIntent = serde_json::from_slice(&fixture("payment_intent.json")).unwrap();
    assert_eq!(
        (pi.id.as_str(), pi.amount, pi.currency.as_str(), pi.status.as_str()),
        ("pi_1PgafyB7WZ01zgkWSjxsAJo3", 1099, "usd", "requires_payment_method")
    );
    assert!(pi.metadata.is_empty());
    assert_eq!(pi.latest_charge, None);
    assert!(pi.client_secret.unwrap().starts_with("pi_1PgafyB7WZ01zgkWSjxsAJo3_secret_"));

    let refund: Refund = serde_json::from_slice(&fixture("refund.json")).unwrap();
    assert_eq!(
        refund,
        Refund {
            id: "re_1Pgc72B7WZ01zgkWqPvrRrPE".into(),
            amount: 100,
            currency: "usd".into(),
            status: "succeeded".into(),
            payment_intent: None,
            charge: Some("ch_1PgafuB7WZ01zgkWXYmPNZs8".into()),
            metadata: Default::default(),
        }
    );

    let charge: Charge = serde_json::from_slice(&fixture("charge.json")).unwrap();
    assert_eq!(
        charge,
        Charge {
            id: "ch_1PgafuB7WZ01zgkWXYmPNZs8".into(),
            amount: 100,
            amount_refunded: 0,
            payment_intent: None,
            refunded: false,
        }
    );
}

#[test]
fn a_payment_intent_succeeded_event_carries_the_payment_intent() {
    let event = parse_event(&fixture("event_payment_intent_succeeded.json")).unwrap();
    let pi: PaymentIntent = serde_json::from_slice(&fixture("payment_intent_succeeded_cny.json")).unwrap();
    assert_eq!(event.id, fixture_json("event_payment_intent_succeeded.json")["id"].as_str().unwrap());
    assert_eq!(event.kind, "payment_intent.succeeded");
    assert_eq!(event.created, 1795000012);
    assert_eq!(event.object, EventObject::PaymentIntent(pi));
    let EventObject::PaymentIntent(pi) = event.object else { unreachable!() };
    assert_eq!((pi.amount, pi.currency.as_str(), pi.status.as_str()), (12345, "cny", "succeeded"));
    assert_eq!(pi.metadata["order_id"], CNY_ORDER_ID);
}

#[test]
fn an_event_about_another_object_type_parses_as_other() {
    let event: Event = parse_event(&fixture("event.json")).unwrap();
    assert_eq!(
        (event.id.as_str(), event.kind.as_str(), event.created, event.object),
        ("evt_1Pgc76B7WZ01zgkWwyRHS12y", "plan.created", 1234567890, EventObject::Other)
    );
}

#[test]
fn charge_and_refund_events_carry_their_objects() {
    let mut event = fixture_json("event.json");
    event["type"] = "charge.refunded".into();
    event["data"]["object"] = fixture_json("charge.json");
    let parsed = parse_event(event.to_string().as_bytes()).unwrap();
    assert!(matches!(parsed.object, EventObject::Charge(c) if c.id == "ch_1PgafuB7WZ01zgkWXYmPNZs8"));

    event["type"] = "refund.updated".into();
    event["data"]["object"] = fixture_json("refund.json");
    let parsed = parse_event(event.to_string().as_bytes()).unwrap();
    assert!(matches!(parsed.object, EventObject::Refund(r) if r.id == "re_1Pgc72B7WZ01zgkWqPvrRrPE"));
}

#[test]
fn objects_are_told_apart_by_their_object_tag() {
    let refund = fixture("refund.json");
    let err = serde_json::from_slice::<PaymentIntent>(&refund).unwrap_err();
    assert!(err.to_string().contains("expected a Stripe payment_intent object"), "{err}");
    assert!(serde_json::from_slice::<Charge>(&fixture("payment_intent.json")).is_err());
    // An event whose PaymentIntent is broken is an error, not `Other`.
    let mut event = fixture_json("event_payment_intent_succeeded.json");
    event["data"]["object"]["amount"] = "lots".into();
    assert!(parse_event(event.to_string().as_bytes()).is_err());
    assert!(parse_event(b"not json").is_err());
}

#[test]
fn expanded_references_and_null_metadata_read_as_ids_and_empty() {
    // localstripe sends `latest_charge` as the whole Charge, and no `amount_received` etc.
    let pi: PaymentIntent = serde_json::from_value(json!({
        "object": "payment_intent", "id": "pi_local", "amount": 500, "currency": "cny",
        "status": "succeeded", "client_secret": "pi_local_secret_x", "metadata": null,
        "latest_charge": {"object": "charge", "id": "ch_local", "amount": 500},
    }))
    .unwrap();
    assert_eq!(pi.latest_charge.as_deref(), Some("ch_local"));
    assert!(pi.metadata.is_empty());
    let refund: Refund = serde_json::from_value(json!({
        "object": "refund", "id": "re_1", "amount": 5, "currency": "cny", "status": null,
        "payment_intent": {"id": "pi_local", "object": "payment_intent"}, "charge": null,
    }))
    .unwrap();
    assert_eq!((refund.payment_intent.as_deref(), refund.status.as_str()), (Some("pi_local"), "pending"));
}

// ---- 2. Webhook signatures -----------------------------------------------------------------

const WEBHOOK_SECRET: &str = "whsec_test_tonggan";

fn signed(body: &str, secret: &str, timestamp: i64) -> String {
    // async-stripe's own test helper (public in stripe_webhook, used here as a dev-dependency).
    Webhook::generate_test_header(body, secret, Some(timestamp))
}

fn v1_of(header: &str) -> &str {
    header.split(',').find_map(|p| p.strip_prefix("v1=")).unwrap()
}

#[test]
fn a_header_made_by_async_stripe_is_accepted() {
    let body = String::from_utf8(fixture("event_payment_intent_succeeded.json")).unwrap();
    let t = now_unix();
    let header = signed(&body, WEBHOOK_SECRET, t);
    assert!(header.starts_with(&format!("t={t},v1=")) && v1_of(&header).len() == 64, "{header}");
    assert_eq!(verify_signature(Some(&header), body.as_bytes(), WEBHOOK_SECRET, t), Ok(()));
    // Whitespace and a v0 alongside are tolerated.
    let spaced = format!("t={t}, v1={} , v0=00", v1_of(&header));
    assert_eq!(verify_signature(Some(&spaced), body.as_bytes(), WEBHOOK_SECRET, t), Ok(()));
}

#[test]
fn a_tampered_body_or_a_wrong_secret_is_a_mismatch() {
    let body = r#"{"id":"evt_1","object":"event"}"#;
    let t = now_unix();
    let header = signed(body, WEBHOOK_SECRET, t);
    let tampered = body.replace("evt_1", "evt_2");
    assert_eq!(verify_signature(Some(&header), tampered.as_bytes(), WEBHOOK_SECRET, t), Err(SignatureError::Mismatch));
    assert_eq!(verify_signature(Some(&header), body.as_bytes(), "whsec_other", t), Err(SignatureError::Mismatch));
    // The signed timestamp is part of the signature: moving it breaks it.
    let moved = header.replacen(&format!("t={t}"), &format!("t={}", t + 1), 1);
    assert_eq!(verify_signature(Some(&moved), body.as_bytes(), WEBHOOK_SECRET, t), Err(SignatureError::Mismatch));
}

#[test]
fn a_timestamp_more_than_300_seconds_away_either_way_is_stale() {
    let body = r#"{"id":"evt_1"}"#;
    let now = now_unix();
    for (offset, expected) in
        [(-301, Err(SignatureError::Stale)), (301, Err(SignatureError::Stale)), (-300, Ok(())), (300, Ok(()))]
    {
        let header = signed(body, WEBHOOK_SECRET, now + offset);
        assert_eq!(verify_signature(Some(&header), body.as_bytes(), WEBHOOK_SECRET, now), expected, "offset {offset}");
    }
    // A stale timestamp with a wrong signature is a mismatch: the signature is checked first.
    let header = signed(body, "whsec_other", now - 1000);
    assert_eq!(verify_signature(Some(&header), body.as_bytes(), WEBHOOK_SECRET, now), Err(SignatureError::Mismatch));
}

#[test]
fn a_missing_header_or_one_without_timestamp_or_v1_is_refused() {
    let body = b"{}";
    let t = now_unix();
    let good = signed("{}", WEBHOOK_SECRET, t);
    assert_eq!(verify_signature(None, body, WEBHOOK_SECRET, t), Err(SignatureError::Missing));
    assert_eq!(verify_signature(Some("  "), body, WEBHOOK_SECRET, t), Err(SignatureError::Missing));
    for header in [
        format!("t={t}"),
        format!("t={t},v0={}", v1_of(&good)),
        format!("v1={}", v1_of(&good)),
        format!("t=yesterday,v1={}", v1_of(&good)),
        format!("t={t},t={t},v1={}", v1_of(&good)),
        "garbage".to_owned(),
    ] {
        assert_eq!(
            verify_signature(Some(&header), body, WEBHOOK_SECRET, t),
            Err(SignatureError::Malformed),
            "{header}"
        );
    }
}

#[test]
fn one_right_signature_among_several_v1_candidates_is_accepted() {
    let body = r#"{"id":"evt_1"}"#;
    let t = now_unix();
    let right = v1_of(&signed(body, WEBHOOK_SECRET, t)).to_owned();
    let other = v1_of(&signed(body, "whsec_old_secret", t)).to_owned();
    for header in [
        format!("t={t},v1={other},v1={right}"),
        format!("t={t},v1={right},v1={other}"),
        format!("t={t},v1=not-hex,v1={},v1={right}", right.to_uppercase()),
        format!("t={t},v1=abc,v1={right},v0={other}"),
    ] {
        assert_eq!(verify_signature(Some(&header), body.as_bytes(), WEBHOOK_SECRET, t), Ok(()), "{header}");
    }
    let header = format!("t={t},v1={other},v1=00");
    assert_eq!(verify_signature(Some(&header), body.as_bytes(), WEBHOOK_SECRET, t), Err(SignatureError::Mismatch));
}

// ---- 3. The client's requests and failures, against wiremock -------------------------------

/// The form fields of a request body, decoded.
fn form(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn header_of<'a>(request: &'a wiremock::Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

async fn mock(server: &MockServer, verb: &str, at: &str, response: ResponseTemplate) {
    Mock::given(method(verb)).and(path(at)).respond_with(response).mount(server).await;
}

#[tokio::test]
async fn create_payment_intent_sends_amount_cny_order_id_and_the_idempotency_key() {
    let server = MockServer::start().await;
    mock(
        &server,
        "POST",
        "/v1/payment_intents",
        ResponseTemplate::new(200).set_body_json(fixture_json("payment_intent_succeeded_cny.json")),
    )
    .await;
    let client = StripeClient::new(&settings(&server.uri(), 5)).unwrap();
    let order_id = Uuid::now_v7();

    let pi = client.create_payment_intent(12345, order_id, "order-key-1").await.unwrap();
    assert_eq!((pi.amount, pi.currency.as_str()), (12345, "cny"));

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.url.path(), "/v1/payment_intents");
    assert_eq!(header_of(request, "idempotency-key"), Some("order-key-1"));
    assert_eq!(header_of(request, "authorization"), Some(format!("Bearer {SECRET_KEY}").as_str()));
    assert_eq!(header_of(request, "content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(
        form(&request.body),
        BTreeMap::from([
            ("amount".to_owned(), "12345".to_owned()),
            ("currency".to_owned(), "cny".to_owned()),
            ("metadata[order_id]".to_owned(), order_id.to_string()),
        ])
    );
}

#[tokio::test]
async fn retrieve_payment_intent_gets_it_by_id_without_an_idempotency_key() {
    let server = MockServer::start().await;
    let reply = fixture_json("payment_intent_succeeded_cny.json");
    let id = reply["id"].as_str().unwrap().to_owned();
    mock(&server, "GET", &format!("/v1/payment_intents/{id}"), ResponseTemplate::new(200).set_body_json(&reply)).await;
    // A base without the trailing slash works too.
    let client = StripeClient::new(&settings(server.uri().trim_end_matches('/'), 5)).unwrap();

    let pi = client.retrieve_payment_intent(&id).await.unwrap();
    assert_eq!((pi.id.as_str(), pi.status.as_str()), (id.as_str(), "succeeded"));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(header_of(&requests[0], "idempotency-key"), None);
    assert_eq!(header_of(&requests[0], "authorization"), Some(format!("Bearer {SECRET_KEY}").as_str()));
}

#[tokio::test]
async fn create_refund_sends_the_payment_intent_amount_and_our_reason_in_metadata() {
    let server = MockServer::start().await;
    let mut reply = fixture_json("refund.json");
    reply["payment_intent"] = "pi_3Pgb7xB7WZ01zgkW1uR5Xk2b".into();
    mock(&server, "POST", "/v1/refunds", ResponseTemplate::new(200).set_body_json(&reply)).await;
    let client = StripeClient::new(&settings(&server.uri(), 5)).unwrap();
    let refund_id = Uuid::now_v7();

    let refund = client
        .create_refund("pi_3Pgb7xB7WZ01zgkW1uR5Xk2b", 2345, refund_id, "顾客退货 & returned=yes", "refund-key-1")
        .await
        .unwrap();
    assert_eq!(refund.payment_intent.as_deref(), Some("pi_3Pgb7xB7WZ01zgkW1uR5Xk2b"));

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(header_of(&requests[0], "idempotency-key"), Some("refund-key-1"));
    assert_eq!(
        form(&requests[0].body),
        BTreeMap::from([
            ("payment_intent".to_owned(), "pi_3Pgb7xB7WZ01zgkW1uR5Xk2b".to_owned()),
            ("amount".to_owned(), "2345".to_owned()),
            ("metadata[refund_id]".to_owned(), refund_id.to_string()),
            ("metadata[reason]".to_owned(), "顾客退货 & returned=yes".to_owned()),
        ])
    );
}

fn stripe_error(kind: &str, code: Option<&str>, message: &str) -> Value {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = code.into();
    }
    json!({ "error": error })
}

/// Answers every create_payment_intent with `response`; returns the result and how many
/// requests reached the server.
async fn create_against(response: ResponseTemplate, timeout_secs: u64) -> (Result<PaymentIntent, StripeError>, usize) {
    let server = MockServer::start().await;
    mock(&server, "POST", "/v1/payment_intents", response).await;
    let client = StripeClient::new(&settings(&server.uri(), timeout_secs)).unwrap();
    let result = client.create_payment_intent(100, Uuid::now_v7(), "key").await;
    (result, server.received_requests().await.unwrap().len())
}

#[tokio::test]
async fn each_failure_is_classified_and_sent_once() {
    let json = |status: u16, body: Value| ResponseTemplate::new(status).set_body_json(body);
    let cases = [
        (
            json(402, stripe_error("card_error", Some("card_declined"), "Your card was declined.")),
            StripeError::CardDeclined { message: "Your card was declined.".into() },
        ),
        (
            json(402, stripe_error("card_error", Some("expired_card"), "Your card has expired.")),
            StripeError::CardDeclined { message: "Your card has expired.".into() },
        ),
        (json(409, stripe_error("idempotency_error", None, "Keys for idempotent requests...")), StripeError::Conflict),
        (json(409, stripe_error("invalid_request_error", None, "Conflict")), StripeError::Conflict),
        // Stripe answers a key reused with other parameters with a 400 idempotency_error.
        (json(400, stripe_error("idempotency_error", None, "Keys for idempotent requests...")), StripeError::Conflict),
        (
            json(429, stripe_error("invalid_request_error", Some("rate_limit"), "Too many requests")),
            StripeError::RateLimited,
        ),
        (
            json(500, stripe_error("api_error", None, "Something went wrong")),
            StripeError::Unavailable { status: Some(500) },
        ),
        (json(503, stripe_error("api_error", None, "Unavailable")), StripeError::Unavailable { status: Some(503) }),
        // Even when Stripe says the request may be retried, the client does not retry.
        (
            json(503, stripe_error("api_error", None, "Unavailable")).insert_header("Stripe-Should-Retry", "true"),
            StripeError::Unavailable { status: Some(503) },
        ),
        // An error status whose body is not a Stripe error (a proxy's page): async-stripe
        // drops the status, so it is an unavailable Stripe of unknown status.
        (
            ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
            StripeError::Unavailable { status: None },
        ),
        (
            json(
                400,
                stripe_error("invalid_request_error", Some("parameter_unknown"), "Received unknown parameter: x"),
            ),
            StripeError::Invalid { message: "Received unknown parameter: x".into() },
        ),
        (
            json(401, json!({"error": {"type": "invalid_request_error"}})),
            StripeError::Invalid { message: "Stripe answered 401 (invalid_request_error)".into() },
        ),
        // 2xx replies that are not a PaymentIntent.
        (json(200, fixture_json("refund.json")), StripeError::Decode(String::new())),
        (ResponseTemplate::new(200).set_body_string("<html>"), StripeError::Decode(String::new())),
    ];
    for (response, expected) in cases {
        let shown = format!("{expected:?}");
        let (result, requests) = create_against(response, 5).await;
        let err = result.unwrap_err();
        match (&err, &expected) {
            (StripeError::Decode(_), StripeError::Decode(_)) => {}
            _ => assert_eq!(err, expected, "expected {shown}"),
        }
        assert_eq!(requests, 1, "{shown}: the client must not retry on its own");
    }
}

#[tokio::test]
async fn a_reply_slower_than_timeout_secs_is_a_timeout_without_a_retry() {
    let slow = ResponseTemplate::new(200)
        .set_body_json(fixture_json("payment_intent_succeeded_cny.json"))
        .set_delay(Duration::from_secs(3));
    let (result, requests) = create_against(slow, 1).await;
    assert_eq!(result.unwrap_err(), StripeError::Timeout);
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn an_unreachable_stripe_is_a_transport_error() {
    // Port 9 (discard) is closed on this machine: the connection is refused.
    let client = StripeClient::new(&settings("http://127.0.0.1:9/", 5)).unwrap();
    let err = client.retrieve_payment_intent("pi_123").await.unwrap_err();
    assert!(matches!(err, StripeError::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn bad_arguments_are_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    let client = StripeClient::new(&settings(&server.uri(), 5)).unwrap();
    fn invalid<T>(result: Result<T, StripeError>) -> bool {
        matches!(result, Err(StripeError::Invalid { .. }))
    }
    assert!(invalid(client.retrieve_payment_intent("../v1/customers").await));
    assert!(invalid(client.retrieve_payment_intent("pi_").await));
    assert!(invalid(client.create_payment_intent(0, Uuid::now_v7(), "k").await));
    assert!(invalid(client.create_payment_intent(100, Uuid::now_v7(), "").await));
    assert!(invalid(client.create_payment_intent(100, Uuid::now_v7(), &"k".repeat(256)).await));
    assert!(invalid(client.create_refund("ch_123", 100, Uuid::now_v7(), "r", "k").await));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_client_is_cheap_to_clone_and_usable_from_spawned_tasks() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .and(body_string_contains("amount=100"))
        .and(header("idempotency-key", "spawned"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture_json("payment_intent_succeeded_cny.json")))
        .expect(1)
        .mount(&server)
        .await;
    let client = StripeClient::new(&settings(&server.uri(), 5)).unwrap();
    let cloned = client.clone();
    let task = tokio::spawn(async move { cloned.create_payment_intent(100, Uuid::now_v7(), "spawned").await });
    assert!(task.await.unwrap().is_ok());
}

// ---- 4. End to end against localstripe -----------------------------------------------------

mod localstripe {
    use std::time::Duration;

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use tokio::sync::mpsc;
    use uuid::Uuid;

    use tonggan::stripe::{EventObject, StripeClient, parse_event, verify_signature};

    use super::{SECRET_KEY, now_unix, settings};

    /// localstripe's URL, or `None` (with a note) when the test is to be skipped.
    fn url(test: &str) -> Option<String> {
        match std::env::var("LOCALSTRIPE_URL") {
            Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
            _ => {
                eprintln!(
                    "skipping {test}: LOCALSTRIPE_URL is not set (run `eval \"$(scripts/localstripe.sh)\"` to start one)"
                );
                None
            }
        }
    }

    type Delivery = (Option<String>, Bytes);

    /// A webhook endpoint on a free port that forwards every delivery (signature header, raw
    /// body); returns its URL.
    async fn webhook_listener() -> (String, mpsc::UnboundedReceiver<Delivery>) {
        let (tx, rx) = mpsc::unbounded_channel::<Delivery>();
        async fn receive(State(tx): State<mpsc::UnboundedSender<Delivery>>, headers: HeaderMap, body: Bytes) {
            let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let _ = tx.send((signature, body));
        }
        let app = axum::Router::new().route("/stripe/webhook", post(receive)).with_state(tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{address}/stripe/webhook"), rx)
    }

    /// localstripe's own configuration call: deliver events (here only
    /// `payment_intent.succeeded`) to `url`, signed with `secret`. Webhooks are global to the
    /// localstripe instance, so each test registers its own id and filters what it receives.
    async fn register_webhook(base: &str, url: &str, secret: &str) {
        let id = format!("tonggan_test_{}", Uuid::now_v7().simple());
        let response = reqwest::Client::new()
            .post(format!("{base}/_config/webhooks/{id}"))
            .form(&[("url", url), ("secret", secret), ("events[]", "payment_intent.succeeded")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "registering the webhook: {}", response.text().await.unwrap());
    }

    /// Pays a PaymentIntent as a browser would with a test card: localstripe 1.15.10 refuses a
    /// `payment_method` on `/confirm` ("Not implemented"), so it is set first with an update.
    async fn pay_with_test_card(base: &str, payment_intent_id: &str) {
        let http = reqwest::Client::new();
        let steps = [
            (format!("{base}/v1/payment_intents/{payment_intent_id}"), vec![("payment_method", "pm_card_visa")]),
            (format!("{base}/v1/payment_intents/{payment_intent_id}/confirm"), vec![]),
        ];
        for (url, fields) in steps {
            let response = http.post(&url).bearer_auth(SECRET_KEY).form(&fields).send().await.unwrap();
            assert_eq!(response.status(), 200, "POST {url}: {}", response.text().await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_payment_is_created_paid_refunded_and_its_succeeded_event_verifies() {
        let Some(base) = url("a_payment_is_created_paid_refunded_and_its_succeeded_event_verifies") else { return };
        let secret = format!("whsec_{}", Uuid::now_v7().simple());
        let (hook_url, mut deliveries) = webhook_listener().await;
        register_webhook(&base, &hook_url, &secret).await;
        let client = StripeClient::new(&settings(&base, 5)).unwrap();
        let order_id = Uuid::now_v7();

        let created = client.create_payment_intent(12345, order_id, &format!("order-{order_id}")).await.unwrap();
        assert_eq!((created.amount, created.currency.as_str()), (12345, "cny"));
        assert_eq!(created.status, "requires_payment_method");
        assert_eq!(created.metadata["order_id"], order_id.to_string());
        assert!(created.client_secret.is_some());

        pay_with_test_card(&base, &created.id).await;
        let paid = client.retrieve_payment_intent(&created.id).await.unwrap();
        assert_eq!(paid.status, "succeeded");
        let charge = paid.latest_charge.clone().expect("a paid PaymentIntent has a charge");

        let refund_id = Uuid::now_v7();
        let refund = client
            .create_refund(&created.id, 2345, refund_id, "buyer returned one box", &format!("refund-{refund_id}"))
            .await
            .unwrap();
        assert_eq!((refund.amount, refund.currency.as_str(), refund.status.as_str()), (2345, "cny", "succeeded"));
        assert_eq!(refund.payment_intent.as_deref(), Some(created.id.as_str()));
        assert_eq!(refund.charge.as_deref(), Some(charge.as_str()));
        assert_eq!(refund.metadata["refund_id"], refund_id.to_string());
        assert_eq!(refund.metadata["reason"], "buyer returned one box");

        // localstripe delivers about a second after the payment; other tests' payments may
        // arrive too (webhooks are global), and are ignored.
        let event = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let (signature, body) = deliveries.recv().await.expect("the listener stays up");
                verify_signature(signature.as_deref(), &body, &secret, now_unix())
                    .unwrap_or_else(|e| panic!("a delivery to our endpoint must verify: {e}"));
                let event = parse_event(&body).unwrap_or_else(|e| {
                    panic!("localstripe's event must parse: {e}: {}", String::from_utf8_lossy(&body))
                });
                if matches!(&event.object, EventObject::PaymentIntent(pi) if pi.id == created.id) {
                    break event;
                }
            }
        })
        .await
        .expect("the payment_intent.succeeded event arrives within 20 s");
        assert_eq!(event.kind, "payment_intent.succeeded");
        let EventObject::PaymentIntent(pi) = event.object else { unreachable!() };
        assert_eq!((pi.status.as_str(), pi.amount), ("succeeded", 12345));
        assert_eq!(pi.metadata["order_id"], order_id.to_string());
        assert_eq!(pi.latest_charge.as_deref(), Some(charge.as_str()));
    }

    #[tokio::test]
    async fn localstripe_errors_are_classified() {
        let Some(base) = url("localstripe_errors_are_classified") else { return };
        let client = StripeClient::new(&settings(&base, 5)).unwrap();
        let missing = client.retrieve_payment_intent("pi_doesnotexist").await.unwrap_err();
        assert!(matches!(missing, tonggan::stripe::StripeError::Invalid { .. }), "{missing:?}");
        // A refund of an unpaid PaymentIntent is refused.
        let unpaid = client.create_payment_intent(500, Uuid::now_v7(), &Uuid::now_v7().to_string()).await.unwrap();
        let refused = client.create_refund(&unpaid.id, 100, Uuid::now_v7(), "r", &Uuid::now_v7().to_string()).await;
        assert!(matches!(refused, Err(tonggan::stripe::StripeError::Invalid { .. })), "{refused:?}");
        // A wrong key is refused (localstripe accepts any key that starts with sk_).
        let mut bad = settings(&base, 5);
        bad.secret_key = "pk_test_not_a_secret".to_owned().into();
        let unauthorized = StripeClient::new(&bad).unwrap().retrieve_payment_intent(&unpaid.id).await.unwrap_err();
        assert!(matches!(unauthorized, tonggan::stripe::StripeError::Invalid { .. }), "{unauthorized:?}");
    }
}
