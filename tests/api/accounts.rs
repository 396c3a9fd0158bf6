//! Registration, login, `/me` and password change, with their errors.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_consumer_registers_logs_in_and_reads_me() {
    let app = TestApp::spawn().await;
    let email = unique_email("c");
    let response = app.post("/api/v1/auth/register/consumer", &consumer_body(&email)).await;
    assert_eq!(response.status(), 201);
    let reply: Value = response.json().await.unwrap();
    let id = id_at(&reply, "/account/id");
    assert_eq!(reply["account"]["role"], "consumer");
    assert!(reply["account"].get("password_hash").is_none());

    let user = app.sign_in(&email).await;
    assert_eq!(user.id, id, "the login reply names the account");
    let me: Value = parse(app.as_(&user).me().await).await;
    assert_eq!(me["id"], id.to_string());
    assert_eq!(me["email"], email);
    assert_eq!(me["role"], "consumer");
    assert_eq!(me["memberships"], json!([]));
}

#[tokio::test]
async fn emails_are_matched_without_regard_to_case() {
    let app = TestApp::spawn().await;
    let email = unique_email("Mixed");
    app.post("/api/v1/auth/register/consumer", &consumer_body(&email.to_uppercase())).await;
    app.sign_in(&email.to_lowercase()).await;
    let again = app.post("/api/v1/auth/register/consumer", &consumer_body(&email.to_lowercase())).await;
    assert_problem(again, 409, "email_taken").await;
}

#[tokio::test]
async fn a_second_registration_with_the_same_email_is_rejected() {
    let app = TestApp::spawn().await;
    let email = unique_email("c");
    app.post("/api/v1/auth/register/consumer", &consumer_body(&email)).await;
    let response = app.post("/api/v1/auth/register/consumer", &consumer_body(&email)).await;
    assert_problem(response, 409, "email_taken").await;
    assert_eq!(app.count("accounts").await, 1);
}

#[tokio::test]
async fn an_enterprise_registers_pending_with_its_owner() {
    let app = TestApp::spawn().await;
    let email = unique_email("e");
    let uscc = valid_uscc();
    let response = app.post("/api/v1/auth/register/enterprise", &enterprise_body(&email, &uscc)).await;
    assert_eq!(response.status(), 201);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["organization"]["status"], "pending");
    assert_eq!(reply["organization"]["kind"], "enterprise");
    assert_eq!(reply["organization"]["uscc"], uscc);
    assert_eq!(reply["account"]["role"], "enterprise");

    let owner = app.sign_in(&email).await;
    let me: Value = parse(app.as_(&owner).me().await).await;
    assert_eq!(me["memberships"][0]["organization_id"], reply["organization"]["id"]);
    assert_eq!(me["memberships"][0]["kind"], "enterprise");
    assert_eq!(me["memberships"][0]["role"], "owner");
}

#[tokio::test]
async fn a_producer_registers_pending_with_its_farmer_linkage() {
    let app = TestApp::spawn().await;
    let response = app.post("/api/v1/auth/register/producer", &producer_body(&unique_email("p"), &valid_uscc())).await;
    assert_eq!(response.status(), 201);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["organization"]["status"], "pending");
    assert_eq!(reply["organization"]["kind"], "producer");
    assert_eq!(reply["organization"]["region_adcode"], 620826);
    assert_eq!(reply["organization"]["households"], 320);
    assert_eq!(reply["account"]["role"], "producer");
}

#[tokio::test]
async fn a_usccs_check_character_is_verified() {
    let app = TestApp::spawn().await;
    let mut uscc = valid_uscc();
    let last = uscc.pop().unwrap();
    uscc.push(if last == '0' { '1' } else { '0' });
    let response = app.post("/api/v1/auth/register/enterprise", &enterprise_body(&unique_email("e"), &uscc)).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(field_errors(&problem, "organization.uscc")[0], "has a wrong check character");
    assert_eq!(app.count("organizations").await, 0);
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn a_uscc_already_registered_is_a_conflict_and_leaves_no_orphan_account() {
    let app = TestApp::spawn().await;
    let uscc = valid_uscc();
    app.post("/api/v1/auth/register/enterprise", &enterprise_body(&unique_email("e"), &uscc)).await;
    // The second registration's owner email is new: the account insert would succeed on its
    // own, and must be rolled back with the organization.
    let response = app.post("/api/v1/auth/register/producer", &producer_body(&unique_email("p"), &uscc)).await;
    assert_problem(response, 409, "uscc_taken").await;
    assert_eq!(app.count("organizations").await, 1);
    assert_eq!(app.count("accounts").await, 1);
    assert_eq!(app.count("memberships").await, 1);
}

#[tokio::test]
async fn an_owner_email_already_taken_leaves_no_organization_without_an_owner() {
    let app = TestApp::spawn().await;
    let email = unique_email("taken");
    app.post("/api/v1/auth/register/consumer", &consumer_body(&email)).await;
    let response = app.post("/api/v1/auth/register/enterprise", &enterprise_body(&email, &valid_uscc())).await;
    assert_problem(response, 409, "email_taken").await;
    assert_eq!(app.count("organizations").await, 0);
    assert_eq!(app.count("accounts").await, 1);
}

#[tokio::test]
async fn an_enterprise_outside_tianjin_and_a_producer_outside_gansu_are_refused() {
    let app = TestApp::spawn().await;
    let mut body = enterprise_body(&unique_email("e"), &valid_uscc());
    body["organization"]["district_adcode"] = json!(620826);
    let problem =
        assert_problem(app.post("/api/v1/auth/register/enterprise", &body).await, 422, "validation_failed").await;
    assert_eq!(field_errors(&problem, "organization.district_adcode")[0], "must be the code of a Tianjin district");

    let mut body = producer_body(&unique_email("p"), &valid_uscc());
    body["organization"]["county_adcode"] = json!(120101);
    let problem =
        assert_problem(app.post("/api/v1/auth/register/producer", &body).await, 422, "validation_failed").await;
    field_errors(&problem, "organization.county_adcode");

    // A prefecture is not a county.
    body["organization"]["county_adcode"] = json!(620800);
    let problem =
        assert_problem(app.post("/api/v1/auth/register/producer", &body).await, 422, "validation_failed").await;
    field_errors(&problem, "organization.county_adcode");
    assert_eq!(app.count("organizations").await, 0);
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn every_bad_field_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let body = json!({
        "organization": {
            "legal_name": "", "uscc": "123", "district_adcode": 12, "contact_name": "x",
            "contact_phone": "call me", "address": "addr"
        },
        "owner": {"email": "not-an-email", "password": "short", "display_name": "  "}
    });
    let problem =
        assert_problem(app.post("/api/v1/auth/register/enterprise", &body).await, 422, "validation_failed").await;
    for field in [
        "organization.legal_name",
        "organization.uscc",
        "organization.district_adcode",
        "organization.contact_phone",
        "owner.email",
        "owner.password",
        "owner.display_name",
    ] {
        field_errors(&problem, field);
    }
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn weak_passwords_are_refused() {
    let app = TestApp::spawn().await;
    for (password, message) in
        [("short-pw", "must be at least 10 characters"), ("Password123", "is too common; choose another")]
    {
        let mut body = consumer_body(&unique_email("c"));
        body["password"] = json!(password);
        let problem =
            assert_problem(app.post("/api/v1/auth/register/consumer", &body).await, 422, "validation_failed").await;
        assert_eq!(field_errors(&problem, "password")[0], message);
    }
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn unknown_fields_and_wrong_types_are_named() {
    let app = TestApp::spawn().await;
    let mut body = consumer_body(&unique_email("c"));
    body["role"] = json!("admin");
    let problem =
        assert_problem(app.post("/api/v1/auth/register/consumer", &body).await, 422, "validation_failed").await;
    field_errors(&problem, "role");

    let mut body = enterprise_body(&unique_email("e"), &valid_uscc());
    body["organization"]["status"] = json!("verified");
    let problem =
        assert_problem(app.post("/api/v1/auth/register/enterprise", &body).await, 422, "validation_failed").await;
    field_errors(&problem, "organization.status");

    let mut body = enterprise_body(&unique_email("e"), &valid_uscc());
    body["organization"]["district_adcode"] = json!("和平区");
    let problem =
        assert_problem(app.post("/api/v1/auth/register/enterprise", &body).await, 422, "validation_failed").await;
    field_errors(&problem, "organization.district_adcode");

    let body = json!({"email": unique_email("c"), "display_name": "x"});
    let problem =
        assert_problem(app.post("/api/v1/auth/register/consumer", &body).await, 422, "validation_failed").await;
    field_errors(&problem, "password");
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn malformed_json_is_a_400_and_a_missing_content_type_a_415() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/register/consumer"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "malformed_json").await;
    let response = app.client.post(app.url("/api/v1/auth/register/consumer")).body("{}").send().await.unwrap();
    assert_problem(response, 415, "unsupported_media_type").await;
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413() {
    let app = TestApp::spawn().await;
    let mut body = consumer_body(&unique_email("c"));
    body["display_name"] = json!("x".repeat(1024 * 1024 + 10));
    let response = app.post("/api/v1/auth/register/consumer", &body).await;
    assert_problem(response, 413, "payload_too_large").await;
    assert_eq!(app.count("accounts").await, 0);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.post("/api/v1/auth/register/consumer", &json!({})).await;
    assert!(response.headers().get("x-request-id").is_some_and(|v| v.len() >= 32));
    // A request id the caller sent is kept, so that traces join up across services.
    let response = app.client.get(app.url("/livez")).header("x-request-id", "trace-me-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let email = app.consumer().await.email;
    let wrong_password = app.post("/api/v1/auth/login", &json!({"email": email, "password": "not the password"})).await;
    let unknown_email =
        app.post("/api/v1/auth/login", &json!({"email": unique_email("x"), "password": PASSWORD})).await;
    let a = assert_problem(wrong_password, 401, "invalid_credentials").await;
    let b = assert_problem(unknown_email, 401, "invalid_credentials").await;
    assert_eq!(a.detail, b.detail);
}

#[tokio::test]
async fn me_without_a_session_is_a_401() {
    let app = TestApp::spawn().await;
    assert_problem(app.get("/api/v1/me").await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_a_good_new_one() {
    let app = TestApp::spawn().await;
    let user = app.consumer().await;
    let email = &user.email;
    let hash_before: String = sqlx::query_scalar("select password_hash from accounts where email = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .unwrap();
    for (current, new, field) in [
        ("wrong password!", "another-good-one-1", "current_password"),
        (PASSWORD, "short", "new_password"),
        (PASSWORD, PASSWORD, "new_password"),
    ] {
        let response = app.as_(&user).change_password(current, new).await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        field_errors(&problem, field);
    }
    let hash_after: String = sqlx::query_scalar("select password_hash from accounts where email = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(hash_before, hash_after);
}

#[tokio::test]
async fn after_a_password_change_only_the_new_password_works() {
    let app = TestApp::spawn().await;
    let user = app.consumer().await;
    let response = app.as_(&user).change_password(PASSWORD, "a-brand-new-secret").await;
    assert_eq!(response.status(), 204);
    let old = app.post("/api/v1/auth/login", &json!({"email": user.email, "password": PASSWORD})).await;
    assert_problem(old, 401, "invalid_credentials").await;
    app.anonymous().login(&user.email, "a-brand-new-secret").await;
}

#[tokio::test]
async fn a_login_email_with_control_characters_is_just_invalid_credentials() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "a\u{0}b@example.cn", "password": PASSWORD});
    assert_problem(app.post("/api/v1/auth/login", &body).await, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn a_producer_in_jiayuguan_a_city_without_counties_can_register() {
    let app = TestApp::spawn().await;
    let mut body = producer_body(&unique_email("p"), &valid_uscc());
    body["organization"]["county_adcode"] = json!(620200);
    assert_eq!(app.post("/api/v1/auth/register/producer", &body).await.status(), 201);
}

// ---- sign-up throttling and bounded hashing ---------------------------------------------

#[tokio::test]
async fn sign_ups_from_one_address_beyond_the_allowance_get_429_and_create_nothing() {
    let app = TestApp::spawn_with(|s| s.signup_throttle.max_per_client = 3).await;
    let bad = json!({"email": "not an email", "password": "short", "display_name": ""});
    assert_eq!(app.post("/api/v1/auth/register/consumer", &bad).await.status(), 422);
    assert_eq!(app.post("/api/v1/auth/register/consumer", &consumer_body(&unique_email("c"))).await.status(), 201);
    let producer = producer_body(&unique_email("p"), &valid_uscc());
    assert_eq!(app.post("/api/v1/auth/register/producer", &producer).await.status(), 201);
    let (accounts, organizations) = (app.count("accounts").await, app.count("organizations").await);
    let late = unique_email("late");
    for path in ["consumer", "enterprise", "producer"] {
        let body = match path {
            "consumer" => consumer_body(&late),
            "enterprise" => enterprise_body(&late, &valid_uscc()),
            _ => producer_body(&late, &valid_uscc()),
        };
        let response = app.post(&format!("/api/v1/auth/register/{path}"), &body).await;
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=600).contains(&retry_after), "{retry_after}");
        assert_problem(response, 429, "too_many_attempts").await;
    }
    assert_eq!(app.count("accounts").await, accounts);
    assert_eq!(app.count("organizations").await, organizations);
    // Refused sign-ups were not counted.
    let key = format!("{}signup:client:127.0.0.1", app.settings.redis.key_prefix);
    let mut redis = app.redis.clone();
    let count: u64 = redis::cmd("GET").arg(&key).query_async(&mut redis).await.unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn a_sign_up_another_address_makes_is_not_held_back_by_the_first() {
    let app = TestApp::spawn_with(|s| {
        s.signup_throttle.max_per_client = 1;
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let from = |address: &'static str| {
        let body = consumer_body(&unique_email("c"));
        app.client.post(app.url("/api/v1/auth/register/consumer")).header("x-forwarded-for", address).json(&body)
    };
    assert_eq!(from("203.0.113.5").send().await.unwrap().status(), 201);
    assert_problem(from("203.0.113.5").send().await.unwrap(), 429, "too_many_attempts").await;
    assert_eq!(from("203.0.113.6").send().await.unwrap().status(), 201);
}

#[tokio::test]
async fn a_taken_email_or_uscc_and_a_wrong_region_are_refused_before_any_hashing() {
    let app = TestApp::spawn_with(|s| {
        s.password.max_concurrent_hashes = 1;
        s.password.hash_queue_timeout_ms = 50;
    })
    .await;
    let owner = app.organization("enterprise").await;
    let uscc: String = sqlx::query_scalar("select uscc from organizations where id = $1")
        .bind(owner.org)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (accounts, organizations) = (app.count("accounts").await, app.count("organizations").await);
    // The only hashing slot is taken: whatever reaches the hash is answered 503.
    let slot = app.state.hasher.slot().await.unwrap();
    let taken = consumer_body(&owner.email);
    assert_problem(app.post("/api/v1/auth/register/consumer", &taken).await, 409, "email_taken").await;
    let same_uscc = enterprise_body(&unique_email("e"), &uscc);
    assert_problem(app.post("/api/v1/auth/register/enterprise", &same_uscc).await, 409, "uscc_taken").await;
    let mut elsewhere = enterprise_body(&unique_email("e"), &valid_uscc());
    elsewhere["organization"]["district_adcode"] = json!(620826);
    assert_problem(app.post("/api/v1/auth/register/enterprise", &elsewhere).await, 422, "validation_failed").await;
    let member = json!({"email": owner.email, "password": PASSWORD, "display_name": "张伟", "role": "purchaser"});
    assert_problem(app.as_(&owner).post_member(owner.org, &member).await, 409, "email_taken").await;
    // A sign-up that needs a hash waits for the slot, then is told to come back.
    let fresh = app.post("/api/v1/auth/register/consumer", &consumer_body(&unique_email("c"))).await;
    assert_eq!(fresh.headers()["retry-after"], "1");
    assert_problem(fresh, 503, "server_busy").await;
    assert_eq!(app.count("accounts").await, accounts);
    assert_eq!(app.count("organizations").await, organizations);
    drop(slot);
    assert_eq!(app.post("/api/v1/auth/register/consumer", &consumer_body(&unique_email("c"))).await.status(), 201);
}

#[tokio::test]
async fn with_every_hashing_slot_taken_login_and_password_change_answer_503_and_change_nothing() {
    let app = TestApp::spawn_with(|s| {
        s.password.max_concurrent_hashes = 2;
        s.password.hash_queue_timeout_ms = 100;
    })
    .await;
    let user = app.consumer().await;
    let slots = (app.state.hasher.slot().await.unwrap(), app.state.hasher.slot().await.unwrap());
    let busy = app.anonymous().post("/api/v1/auth/login", &json!({"email": user.email, "password": PASSWORD})).await;
    assert_eq!(busy.headers()["retry-after"], "1");
    assert!(app.session_cookie(&busy).is_none());
    assert_problem(busy, 503, "server_busy").await;
    assert_problem(app.as_(&user).change_password(PASSWORD, "a-brand-new-secret").await, 503, "server_busy").await;
    drop(slots);
    // The password did not change and the session did not end.
    assert_eq!(app.as_(&user).me().await.status(), 200);
    app.anonymous().login(&user.email, PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sign_ins_beyond_the_hashing_slots_wait_for_them_rather_than_fail() {
    let app = TestApp::spawn_with(|s| {
        s.password.max_concurrent_hashes = 1;
        s.password.hash_queue_timeout_ms = 30_000;
        // Attempts count before the hash, so twelve at once would pass the email's limit.
        s.login_throttle.max_failures_per_email = 100;
    })
    .await;
    let email = app.consumer().await.email;
    let logins: Vec<_> = (0..12)
        .map(|_| {
            let (browser, body) = (app.anonymous(), json!({"email": email, "password": PASSWORD}));
            tokio::spawn(async move { browser.post("/api/v1/auth/login", &body).await.status().as_u16() })
        })
        .collect();
    for login in logins {
        assert_eq!(login.await.unwrap(), 200);
    }
}
