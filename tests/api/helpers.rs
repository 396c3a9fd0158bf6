//! A real server on port 0 per test, with its own database (cloned from a migrated template)
//! and its own Redis key prefix, so tests run in parallel without seeing each other.
//!
//! Tests speak to it through signed-in actors ([`User`], [`Owner`]) and a [`Caller`] that
//! turns intent into requests: `app.as_(&producer).set_price(id, &[(1, 1200)])`,
//! `app.as_(&buyer).place_order(&[(apples, 3)])`, `app.as_(&owner).add_member(org, "approver")`.
//! Setup that every area repeats lives on [`TestApp`]: `app.verified_producer()`,
//! `app.stocked_product(&producer, stock, price)`, `app.buyers(n)`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use rand::Rng;
use redis::aio::ConnectionManager;
use reqwest::{Client, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
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
    /// The admin that setup helpers verify organizations and approve listings with, made on
    /// first use.
    admin: OnceCell<User>,
}

/// A signed-in account: its own browser (a client with a cookie jar) and who it is.
#[derive(Clone)]
pub struct User {
    pub client: Client,
    pub id: Uuid,
    pub email: String,
    /// The value of the session cookie the sign-in set.
    pub session: String,
}

/// The signed-in owner of a registered organization.
#[derive(Clone)]
pub struct Owner {
    pub client: Client,
    /// The organization.
    pub org: Uuid,
    /// The owner's account.
    pub id: Uuid,
    pub email: String,
}

/// Anything that carries a browser: a signed-in actor, or a bare client.
pub trait Actor {
    fn client(&self) -> &Client;
}

impl Actor for User {
    fn client(&self) -> &Client {
        &self.client
    }
}

impl Actor for Owner {
    fn client(&self) -> &Client {
        &self.client
    }
}

impl Actor for Client {
    fn client(&self) -> &Client {
        self
    }
}

pub fn base_settings() -> Settings {
    Settings::load_for(Path::new(env!("CARGO_MANIFEST_DIR")).join("config").as_path(), Environment::Test)
        .expect("test settings load")
}

/// Installs the process's tracing subscriber once, before the first server starts:
/// - always, the statement counter of `statements` (it looks only at `sqlx::query` events and
///   request spans, so it costs the other tests nothing visible);
/// - with `TEST_LOG` set (to anything but `0` or empty), a writer of the servers' logs through
///   libtest, which keeps them per test and shows them for failing tests (all of them with
///   `--nocapture`). `RUST_LOG` overrides its filter.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, filter};
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let counter = crate::statements::StatementCounter
            .with_filter(filter::filter_fn(|m| m.is_span() || m.target() == "sqlx::query"));
        let log = std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0").then(|| {
            let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(TEST_LOG_FILTER));
            let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
            tracing_subscriber::fmt::layer().with_test_writer().with_ansi(colour).compact().with_filter(filter)
        });
        let _ = tracing_subscriber::registry().with(counter).with(log).try_init();
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
    // ---- servers ------------------------------------------------------------------------

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

    /// Two servers on one database and Redis prefix: the second instance.
    pub async fn second_instance(&self) -> TestApp {
        Self::serve(self.settings.clone()).await
    }

    async fn serve(settings: Settings) -> TestApp {
        init_tracing();
        let state = AppState::build(settings.clone()).expect("state builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let db = state.db.clone();
        let redis = state.redis.clone();
        tokio::spawn(startup::serve(listener, state.clone()));
        TestApp { address, db, redis, settings, state, client: new_client(), admin: OnceCell::new() }
    }

    // ---- requests -----------------------------------------------------------------------

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A GET with this app's own client.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// A JSON POST with this app's own client.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    /// Requests to this server in the name of `who`. (`as` is a keyword, hence the underscore.)
    pub fn as_(&self, who: &impl Actor) -> Caller {
        Caller {
            client: who.client().clone(),
            base: self.address.clone(),
            cookie_name: self.settings.session.cookie_name.clone(),
        }
    }

    /// Requests to this server from a fresh browser, signed in as nobody.
    pub fn anonymous(&self) -> Caller {
        self.as_(&new_client())
    }

    // ---- actors -------------------------------------------------------------------------

    /// Signs `email` in (with [`PASSWORD`]) in a fresh browser.
    pub async fn sign_in(&self, email: &str) -> User {
        self.anonymous().sign_in(email, PASSWORD).await
    }

    /// A signed-in consumer, freshly registered.
    pub async fn consumer(&self) -> User {
        let email = unique_email("consumer");
        let response = self.post("/api/v1/auth/register/consumer", &consumer_body(&email)).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        self.sign_in(&email).await
    }

    /// `n` signed-in consumers, each in its own browser.
    pub async fn buyers(&self, n: usize) -> Vec<User> {
        let mut buyers = Vec::with_capacity(n);
        for _ in 0..n {
            buyers.push(self.consumer().await);
        }
        buyers
    }

    /// Registers an organization of `kind` (`producer` or `enterprise`); its owner, signed in.
    /// The organization is pending.
    pub async fn organization(&self, kind: &str) -> Owner {
        let email = unique_email(kind);
        let body = if kind == "enterprise" {
            enterprise_body(&email, &valid_uscc())
        } else {
            producer_body(&email, &valid_uscc())
        };
        let response = self.post(&format!("/api/v1/auth/register/{kind}"), &body).await;
        assert_eq!(response.status(), 201);
        let reply: Value = response.json().await.unwrap();
        let user = self.sign_in(&email).await;
        Owner { client: user.client, org: id_at(&reply, "/organization/id"), id: id_at(&reply, "/account/id"), email }
    }

    /// A producer that [`admin`](Self::admin) has verified; its owner.
    pub async fn verified_producer(&self) -> Owner {
        self.verified("producer").await
    }

    /// An enterprise that [`admin`](Self::admin) has verified; its owner.
    pub async fn verified_enterprise(&self) -> Owner {
        self.verified("enterprise").await
    }

    async fn verified(&self, kind: &str) -> Owner {
        let admin = self.admin().await;
        let owner = self.organization(kind).await;
        let response = self.as_(admin).verify(owner.org).await;
        assert_eq!(response.status(), 200);
        owner
    }

    /// A signed-in admin (or auditor), created as the command line does.
    pub async fn staff(&self, role: AccountRole) -> User {
        let email = unique_email("staff");
        let hasher = PasswordHasher::new(&self.settings.password).unwrap();
        let (address, password) = (Email::parse(&email).unwrap(), Password::parse(PASSWORD).unwrap());
        accounts::create_staff(&self.db, &hasher, &address, &password, "Staff", role).await.unwrap();
        self.sign_in(&email).await
    }

    /// This app's admin, made (as [`staff`](Self::staff)) on first use; the setup helpers
    /// verify and approve with it.
    pub async fn admin(&self) -> &User {
        self.admin.get_or_init(|| self.staff(AccountRole::Admin)).await
    }

    // ---- catalog setup ------------------------------------------------------------------

    /// Creates a product through the API and returns its id.
    pub async fn create_product(&self, producer: &impl Actor, body: &Value) -> Uuid {
        let response = self.as_(producer).post("/api/v1/producer/products", body).await;
        let status = response.status();
        let reply: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{reply}");
        id_at(&reply, "/id")
    }

    /// Creates and submits a product, and [`admin`](Self::admin) approves it: it is public afterwards.
    pub async fn listed_product(&self, producer: &impl Actor, body: &Value) -> Uuid {
        let id = self.create_product(producer, body).await;
        assert_eq!(self.as_(producer).submit(id).await.status(), 200);
        assert_eq!(self.as_(self.admin().await).approve_product(id).await.status(), 200);
        id
    }

    /// A listed product with this stock and retail price (10% off from 10 units).
    pub async fn stocked_product(&self, producer: &impl Actor, stock: i64, price: i64) -> Uuid {
        let mut body = product_body("静宁苹果", price);
        body["stock"] = json!(stock);
        self.listed_product(producer, &body).await
    }

    // ---- looking behind the API ---------------------------------------------------------

    /// How often this server's catalog cache went to Postgres.
    pub fn catalog_loads(&self) -> u64 {
        self.state.catalog_cache.loads()
    }

    /// Loads through the ledger's read cache (tallies and the summary).
    pub fn ledger_loads(&self) -> u64 {
        self.state.ledger_cache.loads()
    }

    /// The value of the session cookie this app's client holds, read from a response.
    pub fn session_cookie(&self, response: &Response) -> Option<String> {
        session_cookie(&self.settings.session.cookie_name, response)
    }

    /// `/api/v1/me` from a fresh browser that presents `session_id` as its session cookie.
    pub async fn me_with_session(&self, session_id: &str) -> Response {
        new_client()
            .get(self.url("/api/v1/me"))
            .header("cookie", format!("{}={session_id}", self.settings.session.cookie_name))
            .send()
            .await
            .unwrap()
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

    pub async fn stock_of(&self, product: Uuid) -> i64 {
        sqlx::query_scalar::<_, i32>("select stock from products where id = $1")
            .bind(product)
            .fetch_one(&self.db)
            .await
            .unwrap() as i64
    }
}

fn session_cookie(name: &str, response: &Response) -> Option<String> {
    response.cookies().find(|c| c.name() == name).map(|c| c.value().to_string())
}

/// Requests to one server through one browser. Owns what it needs, so it can be moved into
/// spawned tasks. Each method is one request and returns the raw response unless it says
/// otherwise; check it with `assert_eq!(r.status(), ..)`, [`assert_problem`] or [`parse`].
#[derive(Clone)]
pub struct Caller {
    pub client: Client,
    base: String,
    cookie_name: String,
}

impl Caller {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// A conditional GET: 304 while `etag` still matches.
    pub async fn get_if_none_match(&self, path: &str, etag: &str) -> Response {
        self.client.get(self.url(path)).header("if-none-match", etag).send().await.unwrap()
    }

    /// GETs `path` and parses the reply, whatever its status.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> T {
        parse(self.get(path).await).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    /// A POST without a body.
    pub async fn post_empty(&self, path: &str) -> Response {
        self.client.post(self.url(path)).send().await.unwrap()
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.client.put(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.client.patch(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    // ---- accounts -----------------------------------------------------------------------

    /// Signs in with this browser; the sign-in must succeed.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        let response = self.post("/api/v1/auth/login", &json!({"email": email, "password": password})).await;
        assert_eq!(response.status(), 200, "login of {email} failed");
        response
    }

    /// Signs in with this browser and returns it as that user.
    pub async fn sign_in(&self, email: &str, password: &str) -> User {
        let response = self.login(email, password).await;
        let session = session_cookie(&self.cookie_name, &response).expect("a session cookie");
        let me: Value = response.json().await.unwrap();
        User { client: self.client.clone(), id: id_at(&me, "/id"), email: email.to_string(), session }
    }

    pub async fn logout(&self) -> Response {
        self.post_empty("/api/v1/auth/logout").await
    }

    /// Ends every session of this caller's account.
    pub async fn logout_all(&self) -> Response {
        self.post_empty("/api/v1/auth/logout-all").await
    }

    pub async fn me(&self) -> Response {
        self.get("/api/v1/me").await
    }

    pub async fn change_password(&self, current: &str, new: &str) -> Response {
        self.post("/api/v1/me/password", &json!({"current_password": current, "new_password": new})).await
    }

    // ---- organizations ------------------------------------------------------------------

    /// POSTs a member body to the organization's members.
    pub async fn post_member(&self, org: Uuid, body: &Value) -> Response {
        self.post(&format!("/api/v1/organizations/{org}/members"), body).await
    }

    /// The organization's members.
    pub async fn members(&self, org: Uuid) -> Response {
        self.get(&format!("/api/v1/organizations/{org}/members")).await
    }

    pub async fn change_role(&self, org: Uuid, account: Uuid, role: &str) -> Response {
        self.patch(&format!("/api/v1/organizations/{org}/members/{account}"), &json!({"role": role})).await
    }

    pub async fn remove_member(&self, org: Uuid, account: Uuid) -> Response {
        self.delete(&format!("/api/v1/organizations/{org}/members/{account}")).await
    }

    /// Adds a member with `role` (which must succeed) and signs them in.
    pub async fn add_member(&self, org: Uuid, role: &str) -> User {
        let (email, body) = member_body(role);
        let response = self.post_member(org, &body).await;
        assert_eq!(response.status(), 201, "adding a {role}");
        Caller { client: new_client(), ..self.clone() }.sign_in(&email, PASSWORD).await
    }

    /// An admin verifies (or reinstates) an organization.
    pub async fn verify(&self, org: Uuid) -> Response {
        self.post_empty(&format!("/api/v1/admin/organizations/{org}/verify")).await
    }

    /// An admin suspends an organization.
    pub async fn suspend(&self, org: Uuid, reason: &str) -> Response {
        self.post(&format!("/api/v1/admin/organizations/{org}/suspend"), &json!({"reason": reason})).await
    }

    // ---- catalog ------------------------------------------------------------------------

    /// The public view of a product.
    pub async fn product(&self, id: Uuid) -> Response {
        self.get(&format!("/api/v1/products/{id}")).await
    }

    /// A producer sends a product to review.
    pub async fn submit(&self, product: Uuid) -> Response {
        self.post_empty(&format!("/api/v1/producer/products/{product}/submit")).await
    }

    pub async fn delist(&self, product: Uuid) -> Response {
        self.post_empty(&format!("/api/v1/producer/products/{product}/delist")).await
    }

    /// A producer replaces a product's price ladder: `(min_qty, unit_price_fen)` tiers.
    pub async fn set_price(&self, product: Uuid, tiers: &[(i64, i64)]) -> Response {
        self.put(&format!("/api/v1/producer/products/{product}/prices"), &json!({"tiers": tiers_json(tiers)})).await
    }

    /// [`set_price`](Self::set_price), with a reason kept in the price history.
    pub async fn set_price_because(&self, product: Uuid, tiers: &[(i64, i64)], reason: &str) -> Response {
        let body = json!({"tiers": tiers_json(tiers), "reason": reason});
        self.put(&format!("/api/v1/producer/products/{product}/prices"), &body).await
    }

    pub async fn set_stock(&self, product: Uuid, stock: i64) -> Response {
        self.put(&format!("/api/v1/producer/products/{product}/stock"), &json!({"stock": stock})).await
    }

    /// A producer edits a product (PATCH).
    pub async fn edit_product(&self, product: Uuid, changes: &Value) -> Response {
        self.patch(&format!("/api/v1/producer/products/{product}"), changes).await
    }

    pub async fn approve_product(&self, product: Uuid) -> Response {
        self.post_empty(&format!("/api/v1/admin/products/{product}/approve")).await
    }

    pub async fn reject_product(&self, product: Uuid, reason: &str) -> Response {
        self.post(&format!("/api/v1/admin/products/{product}/reject"), &json!({"reason": reason})).await
    }

    // ---- orders -------------------------------------------------------------------------

    /// Places an order for `(product, qty)` lines with a fresh idempotency key.
    pub async fn order(&self, lines: &[(Uuid, i64)]) -> Response {
        self.order_keyed(&Uuid::now_v7().to_string(), &order_body(lines)).await
    }

    /// [`order`](Self::order), which must be placed; the order.
    pub async fn place_order(&self, lines: &[(Uuid, i64)]) -> Order {
        let response = self.order(lines).await;
        assert_eq!(response.status(), 201, "placing an order");
        parse(response).await
    }

    /// POSTs an order body with this idempotency key.
    pub async fn order_keyed(&self, key: &str, body: &Value) -> Response {
        self.client.post(self.url("/api/v1/orders")).header("idempotency-key", key).json(body).send().await.unwrap()
    }

    pub async fn get_order(&self, id: Uuid) -> Response {
        self.get(&format!("/api/v1/orders/{id}")).await
    }

    /// The orders this caller may see.
    pub async fn orders(&self) -> Page<Order> {
        self.get_json("/api/v1/orders").await
    }

    pub async fn cancel(&self, order: Uuid) -> Response {
        self.post_empty(&format!("/api/v1/orders/{order}/cancel")).await
    }

    /// An approver approves an order; `{}` without a note.
    pub async fn approve_order(&self, order: Uuid, note: Option<&str>) -> Response {
        self.post(&format!("/api/v1/orders/{order}/approve"), &note_body(note)).await
    }

    /// An approver rejects an order; `{}` without a note.
    pub async fn reject_order(&self, order: Uuid, note: Option<&str>) -> Response {
        self.post(&format!("/api/v1/orders/{order}/reject"), &note_body(note)).await
    }

    pub async fn set_approval_threshold(&self, fen: i64) -> Response {
        self.put("/api/v1/enterprise/settings", &json!({"approval_threshold_fen": fen})).await
    }

    /// The order groups a producer has to fulfil.
    pub async fn producer_groups(&self) -> Page<ProducerGroup> {
        self.get_json("/api/v1/producer/order-groups").await
    }

    pub async fn ship(&self, group: Uuid, carrier: &str, tracking_no: &str) -> Response {
        let body = json!({"carrier": carrier, "tracking_no": tracking_no});
        self.post(&format!("/api/v1/producer/order-groups/{group}/ship"), &body).await
    }

    pub async fn confirm_receipt(&self, order: Uuid, group: Uuid) -> Response {
        self.post_empty(&format!("/api/v1/orders/{order}/groups/{group}/confirm-receipt")).await
    }

    /// Sets a cart line's quantity.
    pub async fn put_in_cart(&self, product: Uuid, qty: i64) -> Response {
        self.put(&format!("/api/v1/cart/items/{product}"), &json!({"qty": qty})).await
    }

    pub async fn remove_from_cart(&self, product: Uuid) -> Response {
        self.delete(&format!("/api/v1/cart/items/{product}")).await
    }

    pub async fn cart(&self) -> Value {
        self.get_json("/api/v1/cart").await
    }

    /// Uploads a bulk CSV order to `/api/v1/orders/bulk{query}` with this idempotency key.
    pub async fn bulk_order(&self, query: &str, key: &str, csv: String) -> Response {
        self.client
            .post(self.url(&format!("/api/v1/orders/bulk{query}")))
            .header("idempotency-key", key)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap()
    }
}

fn tiers_json(tiers: &[(i64, i64)]) -> Vec<Value> {
    tiers.iter().map(|(min_qty, fen)| json!({"min_qty": min_qty, "unit_price_fen": fen})).collect()
}

fn note_body(note: Option<&str>) -> Value {
    match note {
        Some(note) => json!({"note": note}),
        None => json!({}),
    }
}

// ---- typed replies ------------------------------------------------------------------------

/// A page of a list.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// An order as buyers, approvers and admins see it.
#[derive(Debug, Deserialize)]
pub struct Order {
    pub id: Uuid,
    pub status: String,
    pub total_fen: i64,
    pub po_number: Option<String>,
    pub invoice: Option<Invoice>,
    pub expires_at: Option<String>,
    pub groups: Vec<Group>,
    pub history: Vec<StatusChange>,
}

impl Order {
    /// The order's line for `product`.
    pub fn line(&self, product: Uuid) -> &Line {
        self.groups.iter().flat_map(|g| &g.lines).find(|l| l.product_id == product).expect("a line for the product")
    }

    /// The group holding `product`.
    pub fn group_of(&self, product: Uuid) -> &Group {
        self.groups.iter().find(|g| g.lines.iter().any(|l| l.product_id == product)).expect("a group for the product")
    }
}

#[derive(Debug, Deserialize)]
pub struct Invoice {
    pub tax_id: Option<String>,
}

/// One producer's part of an order.
#[derive(Debug, Deserialize)]
pub struct Group {
    pub id: Uuid,
    pub lines: Vec<Line>,
}

#[derive(Debug, Deserialize)]
pub struct Line {
    pub id: Uuid,
    pub product_id: Uuid,
    pub unit_price_fen: i64,
    pub line_total_fen: i64,
}

#[derive(Debug, Deserialize)]
pub struct StatusChange {
    pub to_status: String,
    pub note: Option<String>,
}

/// An order group as its producer sees it.
#[derive(Debug, Deserialize)]
pub struct ProducerGroup {
    pub id: Uuid,
    pub status: String,
    pub lines: Vec<Line>,
    pub shipping_address: Value,
}

/// A problem+json document.
#[derive(Debug, Deserialize)]
pub struct Problem {
    pub status: u16,
    pub code: String,
    pub detail: String,
    /// Messages per field, for validation problems.
    #[serde(default)]
    pub errors: BTreeMap<String, Vec<String>>,
    /// The offending lines, for order problems (`null` otherwise).
    #[serde(default)]
    pub lines: Value,
    /// Which limit refused, and where the caller stands, for `too_many_open_orders` and
    /// `too_many_orders` (`null` otherwise).
    #[serde(default)]
    pub limit: Value,
}

/// Reads a reply as `T`, naming the status and body when it is not one.
pub async fn parse<T: DeserializeOwned>(response: Response) -> T {
    let status = response.status();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a {status} reply is not a {}: {e}: {text}", std::any::type_name::<T>()))
}

/// Asserts a problem+json reply with this status and code, and returns it.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Problem {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert_eq!(content_type, "application/problem+json");
    let problem: Problem = parse(response).await;
    assert_eq!(problem.code, code, "{problem:?}");
    assert_eq!(problem.status, status);
    problem
}

/// The messages for one field of a 422.
pub fn field_errors<'a>(problem: &'a Problem, field: &str) -> &'a Vec<String> {
    problem.errors.get(field).unwrap_or_else(|| panic!("no errors for {field} in {problem:?}"))
}

// ---- bodies and values --------------------------------------------------------------------

pub fn address() -> Value {
    json!({"recipient": "李明", "phone": "13800000000", "adcode": 120101, "detail": "天津市和平区南京路1号"})
}

/// A new member's body (with a fresh email, also returned) for `role`.
pub fn member_body(role: &str) -> (String, Value) {
    let email = unique_email("member");
    let body = json!({"email": email, "password": PASSWORD, "display_name": "赵磊", "role": role});
    (email, body)
}

/// An order body for `(product, qty)` lines, shipped to [`address`].
pub fn order_body(lines: &[(Uuid, i64)]) -> Value {
    let lines: Vec<Value> = lines.iter().map(|(p, q)| json!({"product_id": p, "qty": q})).collect();
    json!({"lines": lines, "shipping_address": address()})
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

/// Signs `client` in at `app`; the sign-in must succeed.
pub async fn login(app: &TestApp, client: &Client, email: &str, password: &str) -> Response {
    app.as_(client).login(email, password).await
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
