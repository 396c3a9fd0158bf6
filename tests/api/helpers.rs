//! A real server on port 0 per test, with its own database (cloned from a migrated template)
//! and its own Redis key prefix, so tests run in parallel without seeing each other.

use std::path::Path;
use std::sync::Once;

use rand::Rng;
use redis::aio::ConnectionManager;
use reqwest::{Client, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;
use uuid::Uuid;

use tonggan::accounts::{
    self,
    model::{AccountRole, Email, Password, Uscc},
};
use tonggan::config::{Environment, Settings};
use tonggan::password::PasswordHasher;
use tonggan::startup;
use tonggan::state::AppState;

pub const PASSWORD: &str = "gansu-apples-2026";

/// The filter for `TEST_LOG` when `RUST_LOG` is not set.
const TEST_LOG_FILTER: &str = "info,tonggan=debug,sqlx=warn";

pub struct TestApp {
    pub address: String,
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub settings: Settings,
    pub state: AppState,
    /// A client with its own cookie jar: one browser.
    pub client: Client,
}

pub fn base_settings() -> Settings {
    Settings::load_for(Path::new(env!("CARGO_MANIFEST_DIR")).join("config").as_path(), Environment::Test)
        .expect("test settings load")
}

/// With `TEST_LOG` set (to anything but `0` or empty), installs once per process a subscriber
/// that writes the servers' logs through libtest, which keeps them per test and shows them
/// for failing tests (all of them with `--nocapture`). `RUST_LOG` overrides the filter.
fn init_test_log() {
    static INIT: Once = Once::new();
    if !std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(TEST_LOG_FILTER));
        let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let _ =
            tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().with_ansi(colour).compact().try_init();
    });
}

/// Replaces the database name at the end of a Postgres URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The migrated template, made once per test process (and shared by name across processes:
/// its name carries a hash of the migrations).
async fn template(admin_url: &str) -> String {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            for m in tonggan::cli::MIGRATOR.iter() {
                std::hash::Hash::hash(&m.version, &mut hasher);
                std::hash::Hash::hash(&*m.checksum, &mut hasher);
            }
            let name = format!("tonggan_tpl_{:016x}", std::hash::Hasher::finish(&hasher));
            let mut conn = PgConnection::connect(admin_url).await.expect("connect to Postgres");
            sqlx::query("select pg_advisory_lock(72061)").execute(&mut conn).await.unwrap();
            let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
                .bind(&name)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            if !exists {
                let building = format!("{name}_building");
                sqlx::query(sqlx::AssertSqlSafe(format!(r#"drop database if exists "{building}""#)))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(r#"create database "{building}""#)))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&with_database(admin_url, &building))
                    .await
                    .unwrap();
                tonggan::cli::migrate(&pool).await.expect("migrations apply");
                pool.close().await;
                sqlx::query(sqlx::AssertSqlSafe(format!(r#"alter database "{building}" rename to "{name}""#)))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            sqlx::query("select pg_advisory_unlock(72061)").execute(&mut conn).await.unwrap();
            name
        })
        .await
        .clone()
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose settings `adjust` may change (limits, a dead Redis, ...).
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = base_settings();
        let admin_url = settings.database.url.expose_secret().to_string();
        let template = template(&admin_url).await;
        let name = format!("tonggan_test_{}", Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(r#"create database "{name}" template "{template}""#)))
            .execute(&mut conn)
            .await
            .expect("clone the template");
        conn.close().await.unwrap();
        settings.database.url = SecretString::from(with_database(&admin_url, &name));
        settings.redis.key_prefix = format!("tonggan-test:{}:", Uuid::now_v7().simple());
        adjust(&mut settings);
        Self::serve(settings).await
    }

    /// Another server on the same database, with adjusted settings (a dead Redis, no cache).
    pub async fn sibling_with(&self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        adjust(&mut settings);
        Self::serve(settings).await
    }

    async fn serve(settings: Settings) -> TestApp {
        init_test_log();
        let state = AppState::build(settings.clone()).expect("state builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let db = state.db.clone();
        let redis = state.redis.clone();
        tokio::spawn(startup::serve(listener, state.clone()));
        TestApp { address, db, redis, settings, state, client: new_client() }
    }

    /// How often this server's catalog cache went to Postgres.
    pub fn catalog_loads(&self) -> u64 {
        self.state.catalog_cache.loads()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    /// The value of the session cookie this app's client holds, read from a response.
    pub fn session_cookie(&self, response: &Response) -> Option<String> {
        let name = &self.settings.session.cookie_name;
        response.cookies().find(|c| c.name() == name).map(|c| c.value().to_string())
    }

    pub fn session_key(&self, session_id: &str) -> String {
        tonggan::session::SessionStore::key_for(&self.settings.redis.key_prefix, session_id)
    }

    pub async fn redis_exists(&self, key: &str) -> bool {
        let mut conn = self.redis.clone();
        redis::cmd("EXISTS").arg(key).query_async::<bool>(&mut conn).await.unwrap()
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// A signed-in client for a fresh consumer; returns its email too.
    pub async fn consumer(&self) -> (Client, String) {
        let email = unique_email("consumer");
        let response = self.post("/api/v1/auth/register/consumer", &consumer_body(&email)).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let client = new_client();
        login(self, &client, &email, PASSWORD).await;
        (client, email)
    }

    /// Registers an organization of `kind` and returns (owner client, organization id, owner id).
    pub async fn organization(&self, kind: &str) -> (Client, Uuid, Uuid) {
        let email = unique_email(kind);
        let body = if kind == "enterprise" {
            enterprise_body(&email, &valid_uscc())
        } else {
            producer_body(&email, &valid_uscc())
        };
        let response = self.post(&format!("/api/v1/auth/register/{kind}"), &body).await;
        assert_eq!(response.status(), 201);
        let reply: Value = response.json().await.unwrap();
        let client = new_client();
        login(self, &client, &email, PASSWORD).await;
        (client, id_at(&reply, "/organization/id"), id_at(&reply, "/account/id"))
    }

    /// A signed-in admin (or auditor), created as the command line does.
    pub async fn staff(&self, role: AccountRole) -> (Client, Uuid) {
        let email = unique_email("staff");
        let hasher = PasswordHasher::new(&self.settings.password).unwrap();
        let (address, password) = (Email::parse(&email).unwrap(), Password::parse(PASSWORD).unwrap());
        let account = accounts::create_staff(&self.db, &hasher, &address, &password, "Staff", role).await.unwrap();
        let client = new_client();
        login(self, &client, &email, PASSWORD).await;
        (client, account.id)
    }

    /// A verified producer: (owner client, producer id, owner account id).
    pub async fn verified_producer(&self, admin: &Client) -> (Client, Uuid, Uuid) {
        let (client, org, owner) = self.organization("producer").await;
        let response = admin.post(self.url(&format!("/api/v1/admin/organizations/{org}/verify"))).send().await.unwrap();
        assert_eq!(response.status(), 200);
        (client, org, owner)
    }

    /// Creates a product through the API and returns its id.
    pub async fn create_product(&self, producer: &Client, body: &Value) -> Uuid {
        let response = producer.post(self.url("/api/v1/producer/products")).json(body).send().await.unwrap();
        let status = response.status();
        let reply: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{reply}");
        id_at(&reply, "/id")
    }

    /// Creates, submits and approves a product: it is public afterwards.
    pub async fn listed_product(&self, producer: &Client, admin: &Client, body: &Value) -> Uuid {
        let id = self.create_product(producer, body).await;
        let r = producer.post(self.url(&format!("/api/v1/producer/products/{id}/submit"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = admin.post(self.url(&format!("/api/v1/admin/products/{id}/approve"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        id
    }

    /// Two servers on one database and Redis prefix: the second instance.
    pub async fn second_instance(&self) -> TestApp {
        Self::serve(self.settings.clone()).await
    }

    /// A verified enterprise: (owner client, enterprise id).
    pub async fn verified_enterprise(&self, admin: &Client) -> (Client, Uuid) {
        let (client, org, _) = self.organization("enterprise").await;
        let r = admin.post(self.url(&format!("/api/v1/admin/organizations/{org}/verify"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        (client, org)
    }

    /// A member of an enterprise with a role, signed in.
    pub async fn enterprise_member(&self, owner: &Client, org: Uuid, role: &str) -> Client {
        let email = unique_email(role);
        let r = owner
            .post(self.url(&format!("/api/v1/organizations/{org}/members")))
            .json(&json!({"email": email, "password": PASSWORD, "display_name": "成员", "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let client = new_client();
        login(self, &client, &email, PASSWORD).await;
        client
    }

    /// A listed product with this stock and retail price (10% off from 10 units).
    pub async fn stocked_product(&self, producer: &Client, admin: &Client, stock: i64, price: i64) -> Uuid {
        let mut body = product_body("静宁苹果", price);
        body["stock"] = json!(stock);
        self.listed_product(producer, admin, &body).await
    }

    pub async fn stock_of(&self, product: Uuid) -> i64 {
        sqlx::query_scalar::<_, i32>("select stock from products where id = $1")
            .bind(product)
            .fetch_one(&self.db)
            .await
            .unwrap() as i64
    }

    /// Places an order with a fresh idempotency key.
    pub async fn order(&self, buyer: &Client, lines: &[(Uuid, i64)]) -> reqwest::Response {
        let lines: Vec<Value> = lines.iter().map(|(p, q)| json!({"product_id": p, "qty": q})).collect();
        buyer
            .post(self.url("/api/v1/orders"))
            .header("idempotency-key", Uuid::now_v7().to_string())
            .json(&json!({"lines": lines, "shipping_address": address()}))
            .send()
            .await
            .unwrap()
    }
}

pub fn address() -> Value {
    json!({"recipient": "李明", "phone": "13800000000", "adcode": 120101, "detail": "天津市和平区南京路1号"})
}

/// A product body: 静宁 apples by the 箱 at `price` fen retail.
pub fn product_body(title: &str, price: i64) -> Value {
    json!({
        "category_id": 2, "title": title, "description": "静宁县高原红富士苹果，脆甜多汁。",
        "origin_adcode": 620826, "unit": "箱", "spec": "5kg/箱", "stock": 100,
        "images": ["https://img.example.cn/apple.jpg"], "min_order_qty": 1,
        "tiers": [{"min_qty": 1, "unit_price_fen": price}, {"min_qty": 10, "unit_price_fen": price * 9 / 10}]
    })
}

pub fn new_client() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

pub async fn login(app: &TestApp, client: &Client, email: &str, password: &str) -> Response {
    let response = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "login of {email} failed");
    response
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.cn", Uuid::now_v7().simple())
}

/// A random USCC with a correct check character.
pub fn valid_uscc() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut rng = rand::rng();
    let body: String = std::iter::once('9')
        .chain(std::iter::once('1'))
        .chain((0..15).map(|_| ALPHABET[rng.random_range(0..31)] as char))
        .collect();
    let check = Uscc::check_char(&body).unwrap();
    format!("{body}{check}")
}

pub fn consumer_body(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "display_name": "李明", "phone": "138 0000 0000"})
}

pub fn enterprise_body(email: &str, uscc: &str) -> Value {
    json!({
        "organization": {
            "legal_name": "天津市和平区食堂管理有限公司", "uscc": uscc, "district_adcode": 120101,
            "contact_name": "王芳", "contact_phone": "022-23456789", "address": "天津市和平区南京路1号"
        },
        "owner": {"email": email, "password": PASSWORD, "display_name": "王芳"}
    })
}

pub fn producer_body(email: &str, uscc: &str) -> Value {
    json!({
        "organization": {
            "legal_name": "静宁县苹果专业合作社", "uscc": uscc, "county_adcode": 620826,
            "contact_name": "马强", "contact_phone": "13900000000", "address": "甘肃省平凉市静宁县城关镇",
            "farmer_linkage": "合作社统一收购社员苹果，保底价收购并二次分红。", "households": 320
        },
        "owner": {"email": email, "password": PASSWORD, "display_name": "马强"}
    })
}

pub fn id_at(value: &Value, pointer: &str) -> Uuid {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id at {pointer} in {value}"))
}

/// Asserts a problem+json reply with this status and code, and returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    body
}

/// The messages for one field of a 422.
pub fn field_errors<'a>(problem: &'a Value, field: &str) -> &'a Vec<Value> {
    problem["errors"][field].as_array().unwrap_or_else(|| panic!("no errors for {field} in {problem}"))
}
