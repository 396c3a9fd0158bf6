//! The binary itself: configuration overrides from the environment, `migrate`, `admin create`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::*;

fn tonggan() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tonggan"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("APP_ENVIRONMENT", "test");
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_with_settings_from_app_variables_and_url_fallbacks() {
    let app = TestApp::spawn().await;
    let port = free_port();
    let prefix = format!("cli-{}:", uuid::Uuid::now_v7().simple());
    // DATABASE_URL / REDIS_URL as fallbacks, APP__ forms for the rest.
    let _server = Child(
        tonggan()
            .arg("serve")
            .env("DATABASE_URL", app.settings.database.url.expose_secret())
            .env("REDIS_URL", app.settings.redis.url.expose_secret())
            .env("APP__SERVER__HOST", "127.0.0.1")
            .env("APP__SERVER__PORT", port.to_string())
            .env("APP__REDIS__KEY_PREFIX", &prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = new_client();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the binary did not become ready on port {port}");
    // It talks to the test's database: an account registered through it is there.
    let email = unique_email("cli");
    let response =
        client.post(format!("{base}/api/v1/auth/register/consumer")).json(&consumer_body(&email)).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let found: i64 = sqlx::query_scalar("select count(*) from accounts where email = $1")
        .bind(&email)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(found, 1);
    // Its Redis keys carry the prefix from APP__REDIS__KEY_PREFIX.
    client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let mut conn = app.redis.clone();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}session:*")).query_async(&mut conn).await.unwrap();
    assert_eq!(keys.len(), 1);
}

#[tokio::test]
async fn admin_create_reads_the_password_from_stdin_and_the_admin_can_sign_in() {
    let app = TestApp::spawn().await;
    let email = unique_email("admin");
    let mut child = tonggan()
        .args(["admin", "create", "--email", &email, "--role", "admin"])
        .env("APP__DATABASE__URL", app.settings.database.url.expose_secret())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"an-admin-password-2026\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let admin = app.anonymous();
    let me: serde_json::Value = parse(admin.login(&email, "an-admin-password-2026").await).await;
    assert_eq!(me["role"], "admin");
    assert_eq!(admin.get("/api/v1/admin/organizations").await.status(), 200);
}

#[tokio::test]
async fn admin_create_refuses_a_weak_password_and_a_taken_email() {
    let app = TestApp::spawn().await;
    let run = |email: &str, password: &str| {
        let mut child = tonggan()
            .args(["admin", "create", "--email", email, "--role", "auditor"])
            .env("APP__DATABASE__URL", app.settings.database.url.expose_secret())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let email = unique_email("auditor");
    let weak = run(&email, "short");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 10 characters"));
    assert_eq!(app.count("accounts").await, 0);
    assert!(run(&email, "an-auditor-password").status.success());
    let again = run(&email, "an-auditor-password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(app.count("accounts").await, 1);
}

#[test]
fn production_refuses_insecure_cookies() {
    let output = tonggan()
        .arg("migrate")
        .env("APP_ENVIRONMENT", "production")
        .env("APP__DATABASE__URL", "postgres://postgres@127.0.0.1:9/prod")
        .env("APP__SESSION__COOKIE_SECURE", "false")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cookie_secure"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const METRICS_TOKEN: &str = "a-metrics-token-of-forty-characters-0001";
const DEVICE_COOKIE_SECRET: &str = "a-device-cookie-key-of-forty-characters1";

/// `tonggan migrate` in production with every setting production demands set right.
fn production() -> Command {
    let mut command = tonggan();
    command
        .arg("migrate")
        .env("APP_ENVIRONMENT", "production")
        .env("APP__DATABASE__URL", "postgres://postgres@127.0.0.1:9/prod")
        .env("APP__SESSION__COOKIE_SECURE", "true")
        .env("APP__TELEMETRY__METRICS_TOKEN", METRICS_TOKEN)
        .env("APP__LOGIN_THROTTLE__DEVICE_COOKIE_SECRET", DEVICE_COOKIE_SECRET)
        .env("APP__STRIPE__SECRET_KEY", "sk_live_51Abc")
        .env("APP__STRIPE__WEBHOOK_SECRET", "whsec_live_endpoint");
    command
}

/// A production start with everything right but `var`, which is `value` or unset (falling back
/// to config/default.toml): it must fail; its stderr.
fn production_refusal(var: &str, value: Option<&str>) -> String {
    let mut command = production();
    command.env_remove(var);
    if let Some(value) = value {
        command.env(var, value);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{var}={value:?} was accepted");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn production_refuses_to_start_with_the_development_or_a_short_device_cookie_key() {
    for key in [None, Some("short"), Some(tonggan::config::DEVELOPMENT_DEVICE_COOKIE_SECRET)] {
        let stderr = production_refusal("APP__LOGIN_THROTTLE__DEVICE_COOKIE_SECRET", key);
        assert!(stderr.contains("login_throttle.device_cookie_secret"), "{key:?}: {stderr}");
    }
}

#[test]
fn production_refuses_to_start_without_a_long_metrics_token() {
    for token in [None, Some("short")] {
        let stderr = production_refusal("APP__TELEMETRY__METRICS_TOKEN", token);
        assert!(stderr.contains("telemetry.metrics_token"), "{token:?}: {stderr}");
    }
}

/// A production start with everything else right, and these Stripe settings.
fn production_with_stripe(key: &str, webhook_secret: &str) -> std::process::Output {
    production()
        .env("APP__STRIPE__SECRET_KEY", key)
        .env("APP__STRIPE__WEBHOOK_SECRET", webhook_secret)
        .output()
        .unwrap()
}

#[test]
fn production_refuses_stripe_test_keys_and_a_missing_webhook_secret() {
    for (key, secret, says) in [
        ("sk_test_51Abc", "whsec_live_endpoint", "test key"),
        ("sk_live_51Abc", "", "signing secret"),
        ("sk_live_51Abc", "whsec_tonggan_development", "development webhook secret"),
    ] {
        let output = production_with_stripe(key, secret);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains(says), "{key} / {secret:?}: {stderr}");
    }
}
