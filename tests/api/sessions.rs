//! Sessions in Redis: rotation, logout, logout-all, expiry, throttling and CSRF.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_session_id_changes_at_login_and_the_old_one_stops_working() {
    let app = TestApp::spawn().await;
    let email = app.consumer().await.email;
    let first = login(&app, &app.client, &email, PASSWORD).await;
    let first_id = app.session_cookie(&first).unwrap();
    let second = login(&app, &app.client, &email, PASSWORD).await;
    let second_id = app.session_cookie(&second).unwrap();
    assert_ne!(first_id, second_id);
    assert!(!app.redis_exists(&app.session_key(&first_id)).await, "the replaced session must be gone");
    assert!(app.redis_exists(&app.session_key(&second_id)).await);
    assert_problem(app.me_with_session(&first_id).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn the_cookie_is_http_only_lax_and_the_id_is_256_bits() {
    let app = TestApp::spawn().await;
    let email = app.consumer().await.email;
    let response = login(&app, &app.client, &email, PASSWORD).await;
    let set_cookie = set_cookie_header(&response, "tonggan_session");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "local settings do not force Secure");
    let id = app.session_cookie(&response).unwrap();
    // 32 random bytes in unpadded base64url.
    assert_eq!(id.len(), 43);
}

#[tokio::test]
async fn secure_cookies_are_set_when_configured() {
    let app = TestApp::spawn_with(|s| s.session.cookie_secure = true).await;
    let email = app.consumer().await.email;
    let response = app.post("/api/v1/auth/login", &json!({"email": email, "password": PASSWORD})).await;
    assert!(set_cookie_header(&response, "tonggan_session").contains("Secure"));
    assert!(set_cookie_header(&response, "tonggan_device").contains("Secure"));
}

#[tokio::test]
async fn every_redis_key_starts_with_the_configured_prefix() {
    let app = TestApp::spawn().await;
    let user = app.consumer().await;
    app.as_(&user).post("/api/v1/auth/login", &json!({"email": user.email, "password": "wrong password"})).await;
    let mut conn = app.redis.clone();
    let prefix = &app.settings.redis.key_prefix;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    assert!(keys.iter().any(|k| k.starts_with(&format!("{prefix}session:"))), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with(&format!("{prefix}login_fail:"))), "{keys:?}");
}

#[tokio::test]
async fn logout_deletes_the_session_key_in_redis() {
    let app = TestApp::spawn().await;
    let email = app.consumer().await.email;
    let response = login(&app, &app.client, &email, PASSWORD).await;
    let id = app.session_cookie(&response).unwrap();
    assert!(app.redis_exists(&app.session_key(&id)).await);
    assert_eq!(app.as_(&app.client).logout().await.status(), 204);
    assert!(!app.redis_exists(&app.session_key(&id)).await);
    assert_problem(app.me_with_session(&id).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_account_and_no_other() {
    let app = TestApp::spawn().await;
    let laptop = app.consumer().await;
    let phone = app.sign_in(&laptop.email).await;
    let someone_else = app.consumer().await;
    assert_eq!(app.as_(&phone).logout_all().await.status(), 204);
    for device in [&laptop, &phone] {
        assert_problem(app.as_(device).me().await, 401, "unauthenticated").await;
    }
    assert_eq!(app.as_(&someone_else).me().await.status(), 200);
}

#[tokio::test]
async fn a_password_change_rotates_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let email = app.consumer().await.email;
    let before = app.session_cookie(&login(&app, &app.client, &email, PASSWORD).await).unwrap();
    let other_device = app.sign_in(&email).await;
    let response = app.as_(&app.client).change_password(PASSWORD, "fresh-secret-for-2027").await;
    assert_eq!(response.status(), 204);
    let after = app.session_cookie(&response).unwrap();
    assert_ne!(before, after);
    assert!(!app.redis_exists(&app.session_key(&before)).await);
    assert_eq!(app.get("/api/v1/me").await.status(), 200, "this client carries on with the new id");
    assert_problem(app.as_(&other_device).me().await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = TestApp::spawn_with(|s| {
        s.session.idle_timeout_secs = 1;
        s.session.absolute_timeout_secs = 60;
    })
    .await;
    let user = app.as_(&app.consumer().await);
    assert_eq!(user.me().await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_problem(user.me().await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn an_active_session_still_ends_at_its_absolute_lifetime() {
    let app = TestApp::spawn_with(|s| {
        s.session.idle_timeout_secs = 2;
        s.session.absolute_timeout_secs = 3;
    })
    .await;
    let user = app.as_(&app.consumer().await);
    // Keep it busy: each request renews the idle timeout, but not past the absolute limit.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(user.me().await.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_problem(user.me().await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn repeated_failures_for_one_email_get_429_with_an_honest_retry_after() {
    let app = TestApp::spawn_with(|s| {
        s.login_throttle.max_failures_per_email = 3;
        s.login_throttle.window_secs = 2;
    })
    .await;
    let email = app.consumer().await.email;
    let wrong = json!({"email": email, "password": "not my password"});
    for _ in 0..3 {
        assert_problem(app.post("/api/v1/auth/login", &wrong).await, 401, "invalid_credentials").await;
    }
    // Even the right password is refused while the email is throttled.
    let right = json!({"email": email, "password": PASSWORD});
    let response = app.post("/api/v1/auth/login", &right).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    // Rounded up: never shorter than the real wait.
    assert_eq!(retry_after, 2, "Retry-After {retry_after}");
    assert_problem(response, 429, "too_many_attempts").await;
    // Waiting exactly as long as told is enough.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(app.post("/api/v1/auth/login", &right).await.status(), 200);
}

#[tokio::test]
async fn repeated_failures_from_one_client_address_get_429_across_emails() {
    let app = TestApp::spawn_with(|s| {
        s.login_throttle.max_failures_per_client = 4;
        s.login_throttle.max_failures_per_email = 100;
    })
    .await;
    for _ in 0..4 {
        let body = json!({"email": unique_email("guess"), "password": "not my password"});
        assert_problem(app.post("/api/v1/auth/login", &body).await, 401, "invalid_credentials").await;
    }
    let body = json!({"email": unique_email("guess"), "password": "not my password"});
    let response = app.post("/api/v1/auth/login", &body).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 429, "too_many_attempts").await;
}

/// Four failed logins as `client` (an `X-Forwarded-For` value), then a fifth: its status.
async fn fifth_failure_from(app: &TestApp, forwarded_for: &str) -> u16 {
    let mut last = 0;
    for _ in 0..5 {
        let body = json!({"email": unique_email("guess"), "password": "not my password"});
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", forwarded_for)
            .json(&body)
            .send()
            .await
            .unwrap();
        last = response.status().as_u16();
    }
    last
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let app = TestApp::spawn_with(|s| {
        s.login_throttle.max_failures_per_client = 4;
        s.login_throttle.max_failures_per_email = 100;
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    assert_eq!(fifth_failure_from(&app, "203.0.113.5").await, 429);
    // Another client behind the same proxy is not held back by the first one's failures.
    assert_eq!(fifth_failure_from(&app, "203.0.113.6").await, 429);
    let body = json!({"email": unique_email("guess"), "password": "not my password"});
    let fresh = app.client.post(app.url("/api/v1/auth/login")).header("x-forwarded-for", "203.0.113.7");
    assert_problem(fresh.json(&body).send().await.unwrap(), 401, "invalid_credentials").await;
}

#[tokio::test]
async fn without_trusted_proxies_a_forged_forwarded_for_does_not_dodge_the_throttle() {
    let app = TestApp::spawn_with(|s| {
        s.login_throttle.max_failures_per_client = 4;
        s.login_throttle.max_failures_per_email = 100;
    })
    .await;
    assert_eq!(fifth_failure_from(&app, "203.0.113.5").await, 429);
    // A new forged address each time: still the same TCP peer, still throttled.
    let body = json!({"email": unique_email("guess"), "password": "not my password"});
    let forged = app.client.post(app.url("/api/v1/auth/login")).header("x-forwarded-for", "198.51.100.99");
    assert_problem(forged.json(&body).send().await.unwrap(), 429, "too_many_attempts").await;
}

#[tokio::test]
async fn a_cross_site_post_with_the_cookie_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.consumer().await;
    let client = &user.client;
    let response = client
        .post(app.url("/api/v1/auth/logout-all"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "csrf_rejected").await;
    let response =
        client.post(app.url("/api/v1/auth/logout")).header("origin", "https://evil.example").send().await.unwrap();
    assert_problem(response, 403, "csrf_rejected").await;
    // Nothing happened: the session is alive.
    assert_eq!(app.as_(&user).me().await.status(), 200);
    // The same request from the site itself goes through.
    let host = app.address.trim_start_matches("http://").to_string();
    let response = client
        .post(app.url("/api/v1/auth/logout"))
        .header("sec-fetch-site", "same-origin")
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn a_trusted_origin_may_post_across_sites() {
    let app = TestApp::spawn_with(|s| s.server.trusted_origins = vec!["https://shop.tonggan.example".into()]).await;
    let user = app.consumer().await;
    let response = user
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://shop.tonggan.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn logout_without_a_session_is_a_401() {
    let app = TestApp::spawn().await;
    assert_problem(app.post("/api/v1/auth/logout", &json!({})).await, 401, "unauthenticated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_login_with_the_old_password_survives_a_concurrent_password_change() {
    let app = TestApp::spawn_with(|s| {
        s.login_throttle.max_failures_per_client = 1000;
        s.login_throttle.max_failures_per_email = 1000;
        // 40 logins of one account: above the default cap, which would end the owner's session.
        s.session.max_per_account = 100;
    })
    .await;
    let owner = app.consumer().await;
    let credentials = json!({"email": owner.email, "password": PASSWORD});
    let owner = app.as_(&owner);
    let logins: Vec<_> = (0..40)
        .map(|i| {
            let (browser, credentials) = (app.anonymous(), credentials.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 3)).await;
                let r = browser.post("/api/v1/auth/login", &credentials).await;
                (r.status().as_u16(), browser)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(40)).await;
    let changed = owner.change_password(PASSWORD, "changed-in-the-middle").await;
    assert_eq!(changed.status(), 204);
    let mut signed_in = 0;
    for handle in logins {
        let (status, browser) = handle.await.unwrap();
        assert!(status == 200 || status == 401, "{status}");
        if status == 200 {
            signed_in += 1;
            let me = browser.me().await;
            assert_eq!(me.status(), 401, "a session made with the old password outlived the change");
        }
    }
    // The race really was run: some logins got in before the change.
    assert!(signed_in > 0);
    assert_eq!(owner.me().await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_failed_logins_cannot_exceed_the_limit() {
    let app = TestApp::spawn_with(|s| {
        s.login_throttle.max_failures_per_email = 5;
        s.login_throttle.max_failures_per_client = 1000;
    })
    .await;
    let email = app.consumer().await.email;
    let guess = json!({"email": email, "password": "a wrong guess"});
    let attempts: Vec<_> = (0..30)
        .map(|_| {
            let (browser, guess) = (app.anonymous(), guess.clone());
            tokio::spawn(async move { browser.post("/api/v1/auth/login", &guess).await.status().as_u16() })
        })
        .collect();
    let mut by_status = std::collections::BTreeMap::new();
    for a in attempts {
        *by_status.entry(a.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(by_status.get(&401), Some(&5), "{by_status:?}");
    assert_eq!(by_status.get(&429), Some(&25), "{by_status:?}");
}

#[tokio::test]
async fn logout_all_removes_every_session_key_and_the_index_from_redis() {
    let app = TestApp::spawn().await;
    let email = app.consumer().await.email;
    let mut devices = Vec::new();
    for _ in 0..3 {
        devices.push(app.sign_in(&email).await);
    }
    let account: uuid::Uuid =
        sqlx::query_scalar("select id from accounts where email = $1").bind(&email).fetch_one(&app.db).await.unwrap();
    let index = tonggan::session::SessionStore::index_key_for(&app.settings.redis.key_prefix, account);
    assert!(app.redis_exists(&index).await);
    assert_eq!(app.as_(&devices[0]).logout_all().await.status(), 204);
    for device in &devices {
        assert!(!app.redis_exists(&app.session_key(&device.session)).await);
    }
    assert!(!app.redis_exists(&index).await);
}

#[tokio::test]
async fn a_login_beyond_the_cap_of_sessions_per_account_ends_the_oldest() {
    let app = TestApp::spawn_with(|s| s.session.max_per_account = 3).await;
    let email = app.consumer().await.email;
    let mut devices = Vec::new();
    for _ in 0..5 {
        devices.push(app.sign_in(&email).await);
    }
    for (n, device) in devices.iter().enumerate() {
        let status = app.as_(device).me().await.status();
        assert_eq!(status, if n < 2 { 401 } else { 200 }, "device {n}");
    }
    let account: uuid::Uuid =
        sqlx::query_scalar("select id from accounts where email = $1").bind(&email).fetch_one(&app.db).await.unwrap();
    let index = tonggan::session::SessionStore::index_key_for(&app.settings.redis.key_prefix, account);
    let mut redis = app.state.redis.clone();
    let listed: u64 = redis::cmd("ZCARD").arg(&index).query_async(&mut redis).await.unwrap();
    assert_eq!(listed, 3);
    // A session that ended by itself leaves the list at the next login, ending no live one.
    let _: () = redis::cmd("DEL").arg(app.session_key(&devices[2].session)).query_async(&mut redis).await.unwrap();
    let sixth = app.sign_in(&email).await;
    for device in [&devices[3], &devices[4], &sixth] {
        assert_eq!(app.as_(device).me().await.status(), 200);
    }
    let listed: u64 = redis::cmd("ZCARD").arg(&index).query_async(&mut redis).await.unwrap();
    assert_eq!(listed, 3);
}

#[tokio::test]
async fn a_wrong_method_is_a_problem_document_naming_what_is_allowed() {
    let app = TestApp::spawn().await;
    let response = app.client.put(app.url("/api/v1/auth/login")).send().await.unwrap();
    assert!(response.headers().get("allow").is_some());
    assert_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled_like_logins() {
    // The consumer's browser signed in before, so its guesses spend the device's allowance.
    let app = TestApp::spawn_with(|s| s.login_throttle.max_failures_per_device = 2).await;
    let user = app.as_(&app.consumer().await);
    for _ in 0..2 {
        let r = user.change_password("guess-guess-guess", "whatever-new-secret").await;
        assert_problem(r, 422, "validation_failed").await;
    }
    let r = user.change_password("guess-guess-guess", "whatever-new-secret").await;
    assert_problem(r, 429, "too_many_attempts").await;
}

// ---- device cookies: brute-force protection that a stranger cannot turn into a lockout ----

/// `n` wrong-password logins for `email` from fresh browsers (no device cookie), each
/// answered `status`.
async fn strangers_fail(app: &TestApp, email: &str, n: usize, status: u16) {
    for _ in 0..n {
        let r = app.anonymous().post("/api/v1/auth/login", &json!({"email": email, "password": "a wrong guess"})).await;
        assert_eq!(r.status(), status);
    }
}

/// The whole `Set-Cookie` header that sets `name` (a login sets two cookies, in no fixed order).
fn set_cookie_header(response: &reqwest::Response, name: &str) -> String {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} cookie set"))
}

/// The value of a `name` cookie set by `response`, if any.
fn set_cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    response.cookies().find(|c| c.name() == name).map(|c| c.value().to_string())
}

#[tokio::test]
async fn a_stranger_guessing_cannot_lock_the_owner_out_of_a_browser_that_signed_in_before() {
    let app = TestApp::spawn_with(|s| s.login_throttle.max_failures_per_client = 1000).await;
    let owner = app.consumer().await; // signed in once: this browser holds a device cookie
    assert_eq!(app.as_(&owner).logout().await.status(), 204);
    strangers_fail(&app, &owner.email, 5, 401).await;
    // Unknown clients are now refused, the right password included...
    strangers_fail(&app, &owner.email, 3, 429).await;
    let right = json!({"email": owner.email, "password": PASSWORD});
    assert_problem(app.anonymous().post("/api/v1/auth/login", &right).await, 429, "too_many_attempts").await;
    // ...but the owner's own browser still gets in.
    let response = app.as_(&owner).post("/api/v1/auth/login", &right).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_known_browser_has_its_own_allowance_of_failures_and_the_email_keeps_its_own() {
    let app = TestApp::spawn_with(|s| {
        s.login_throttle.max_failures_per_device = 3;
        s.login_throttle.max_failures_per_client = 1000;
    })
    .await;
    let owner = app.consumer().await;
    let me = app.as_(&owner);
    let wrong = json!({"email": owner.email, "password": "a wrong guess"});
    for _ in 0..3 {
        assert_problem(me.post("/api/v1/auth/login", &wrong).await, 401, "invalid_credentials").await;
    }
    let right = json!({"email": owner.email, "password": PASSWORD});
    let refused = me.post("/api/v1/auth/login", &right).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 429, "too_many_attempts").await;
    // The device's failures did not spend the email's allowance for other clients.
    assert_eq!(app.anonymous().post("/api/v1/auth/login", &right).await.status(), 200);
    let key = app.state.login_throttle.email_key(&owner.email);
    assert!(!app.redis_exists(&key).await, "no failure was counted against the email");
}

#[tokio::test]
async fn a_device_cookie_for_another_account_or_altered_counts_as_no_cookie() {
    let app = TestApp::spawn_with(|s| s.login_throttle.max_failures_per_client = 1000).await;
    let victim = app.consumer().await;
    // The attacker's own account gives its browser a device cookie, for the attacker's email.
    let attacker = app.consumer().await;
    strangers_fail(&app, &victim.email, 5, 401).await;
    let right = json!({"email": victim.email, "password": PASSWORD});
    assert_problem(app.as_(&attacker).post("/api/v1/auth/login", &right).await, 429, "too_many_attempts").await;
    // A victim's cookie with one character changed is no cookie either.
    let fresh =
        app.anonymous().post("/api/v1/auth/login", &json!({"email": attacker.email, "password": PASSWORD})).await;
    let cookie = set_cookie_value(&fresh, "tonggan_device").expect("a device cookie");
    let mut altered = cookie.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let forged = new_client()
        .post(app.url("/api/v1/auth/login"))
        .header("cookie", format!("tonggan_device={}", String::from_utf8(altered).unwrap()))
        .json(&right)
        .send()
        .await
        .unwrap();
    assert_problem(forged, 429, "too_many_attempts").await;
}

#[tokio::test]
async fn the_device_cookie_is_http_only_strict_and_scoped_to_the_api() {
    let app = TestApp::spawn().await;
    let email = app.consumer().await.email;
    let response = login(&app, &new_client(), &email, PASSWORD).await;
    let device = set_cookie_header(&response, "tonggan_device");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api/v1", "Max-Age=15552000"] {
        assert!(device.contains(attribute), "{device}");
    }
    assert!(!device.contains(&email), "the cookie names no email: {device}");
}

#[tokio::test]
async fn a_blocked_email_counter_neither_grows_nor_extends_its_window() {
    let app = TestApp::spawn_with(|s| s.login_throttle.max_failures_per_client = 1000).await;
    let email = app.consumer().await.email;
    strangers_fail(&app, &email, 5, 401).await;
    let key = app.state.login_throttle.email_key(&email);
    let mut redis = app.redis.clone();
    let ttl_before: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut redis).await.unwrap();
    strangers_fail(&app, &email, 20, 429).await;
    let count: u64 = redis::cmd("GET").arg(&key).query_async(&mut redis).await.unwrap();
    assert_eq!(count, 5);
    let ttl_after: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut redis).await.unwrap();
    assert!(ttl_after <= ttl_before, "{ttl_after} > {ttl_before}");
}

#[tokio::test]
async fn a_huge_or_malformed_login_email_leaves_only_small_keys_and_is_not_hashed() {
    let app = TestApp::spawn_with(|s| {
        s.password.max_concurrent_hashes = 1;
        s.password.hash_queue_timeout_ms = 50;
    })
    .await;
    // Every hashing slot taken: a request that reached the hash would answer 503.
    let _slot = app.state.hasher.slot().await.unwrap();
    let huge = format!("{}@example.cn", "a".repeat(200_000));
    for email in [huge.as_str(), "not an email", ""] {
        let body = json!({"email": email, "password": PASSWORD});
        assert_problem(app.post("/api/v1/auth/login", &body).await, 401, "invalid_credentials").await;
    }
    let overlong = json!({"email": unique_email("x"), "password": "p".repeat(129)});
    assert_problem(app.post("/api/v1/auth/login", &overlong).await, 401, "invalid_credentials").await;
    let mut redis = app.redis.clone();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", app.settings.redis.key_prefix)).query_async(&mut redis).await.unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert!(key.len() < 200, "a key of {} bytes", key.len());
    }
}

#[tokio::test]
async fn the_same_email_in_other_case_or_spacing_shares_one_counter() {
    let app = TestApp::spawn_with(|s| s.login_throttle.max_failures_per_client = 1000).await;
    let email = app.consumer().await.email;
    for variant in [email.to_uppercase(), format!("  {email} "), email.clone(), email.to_uppercase(), email.clone()] {
        let r = app.anonymous().post("/api/v1/auth/login", &json!({"email": variant, "password": "wrong guess"})).await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    strangers_fail(&app, &email, 1, 429).await;
}
