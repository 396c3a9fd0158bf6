//! Settings, layered: `config/default.toml` → `config/{APP_ENVIRONMENT}.toml` → `APP__*`
//! environment variables, with `DATABASE_URL` / `REDIS_URL` as fallbacks for the two URLs.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Which overlay file is read after the defaults, and how strictly settings are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Local => "local",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }
}

impl TryFrom<String> for Environment {
    type Error = anyhow::Error;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.to_lowercase().as_str() {
            "local" => Ok(Self::Local),
            "test" => Ok(Self::Test),
            "production" => Ok(Self::Production),
            other => {
                anyhow::bail!("APP_ENVIRONMENT must be local, test or production, not {other:?}")
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub session: SessionSettings,
    pub login_throttle: LoginThrottleSettings,
    pub signup_throttle: SignupThrottleSettings,
    pub password: PasswordSettings,
    pub catalog: CatalogSettings,
    pub orders: OrdersSettings,
    pub stripe: StripeSettings,
    pub payments: PaymentsSettings,
    pub tallies: TalliesSettings,
    pub telemetry: TelemetrySettings,
}

/// The Stripe account the service charges through, and how long to wait for it.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeSettings {
    /// The secret API key (`sk_...`), sent as `Authorization: Bearer`.
    pub secret_key: SecretString,
    /// The webhook endpoint's signing secret (`whsec_...`), checked on every event.
    pub webhook_secret: SecretString,
    /// Where the Stripe API lives (`https://api.stripe.com/`, or a localstripe in tests).
    pub api_base: String,
    /// How long one call to Stripe may take; well under `server.request_timeout_secs`.
    pub timeout_secs: u64,
}

/// Bank transfers and refunds.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentsSettings {
    /// How long an order waits for an enterprise's bank transfer (对公转账) once it is chosen.
    pub bank_transfer_window_secs: u64,
    /// The platform's receiving account, shown to enterprises that pay by transfer.
    pub receiving_account: ReceivingAccount,
    /// Whether producers may refund lines of their own groups (admins always may).
    pub producer_refunds_enabled: bool,
}

/// Thresholds of the anomaly report (`GET /admin/anomalies`).
#[derive(Debug, Clone, Deserialize)]
pub struct TalliesSettings {
    /// An order at least this many times its buyer's median paid order is flagged...
    pub anomaly_large_order_factor: i64,
    /// ...among buyers with at least this many paid orders (a median of one or two says little).
    pub anomaly_min_orders: i64,
    /// Producers whose refunds reach this share of their sales, in basis points...
    pub anomaly_refund_ratio_bp: i64,
    /// ...once they have sold at least this much, in fen.
    pub anomaly_min_sales_fen: i64,
}

/// Where enterprises send bank transfers.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceivingAccount {
    /// 户名
    pub name: String,
    /// 开户行
    pub bank: String,
    /// 账号
    pub number: String,
}

/// The Stripe secrets in config/default.toml, refused in production.
pub const DEVELOPMENT_STRIPE_SECRET_KEY: &str = "sk_test_tonggan_development";
pub const DEVELOPMENT_STRIPE_WEBHOOK_SECRET: &str = "whsec_tonggan_development";
/// The device-cookie key in config/default.toml, refused in production.
pub const DEVELOPMENT_DEVICE_COOKIE_SECRET: &str = "tonggan-development-device-cookie-key";

#[derive(Debug, Clone, Deserialize)]
pub struct OrdersSettings {
    pub payment_window_secs: u64,
    pub approval_hold_secs: u64,
    pub auto_complete_days: u32,
    pub jobs_enabled: bool,
    pub jobs_interval_secs: u64,
    pub idempotency_retention_hours: u32,
    pub idempotency_in_flight_secs: u32,
    /// How many order batches one instance places at once, each on its own connection.
    pub placement_batches: usize,
    /// Limits against stock hoarding (docs/orders.md): unpaid orders hold stock for
    /// `payment_window_secs` (an approval, `approval_hold_secs`), so these bound how much of the
    /// catalog one consumer, or one enterprise with all its members, can keep off the shelf.
    pub max_open_orders_per_consumer: u64,
    pub max_reserved_units_per_consumer: u64,
    pub max_open_orders_per_enterprise: u64,
    pub max_reserved_units_per_enterprise: u64,
    /// Order creations counted per account and per client address in a fixed window, so that a
    /// script cannot place, cancel and place again as fast as it can send.
    pub create_window_secs: u64,
    pub max_creates_per_account: u64,
    pub max_creates_per_client: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogSettings {
    pub cache_enabled: bool,
    pub cache_ttl_secs: u64,
    /// The memory tier in front of each Redis read cache (catalog, tallies), in bytes of
    /// replies per instance; 0 turns it off (every read then asks Redis).
    pub local_cache_max_bytes: u64,
    pub alert_above_median_pct: u32,
    pub alert_above_low_pct: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub trusted_origins: Vec<String>,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed: the client address is the nearest
    /// hop in it that is not one of them. Empty: the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The language of problem titles, details and field messages when `Accept-Language`
    /// names neither Chinese nor English (`zh-CN` or `en`).
    pub default_language: crate::i18n::Lang,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: SecretString,
    pub key_prefix: String,
    pub response_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    pub cookie_name: String,
    pub cookie_secure: bool,
    pub cookie_same_site: SameSite,
    pub idle_timeout_secs: u64,
    pub absolute_timeout_secs: u64,
    /// Live sessions an account may hold; a login beyond it ends the oldest.
    pub max_per_account: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LoginThrottleSettings {
    pub window_secs: u64,
    /// Failures from clients without a device cookie for the email, together.
    pub max_failures_per_email: u64,
    /// Failures from one client address, whatever the emails.
    pub max_failures_per_client: u64,
    /// Failures from one device that signed in as the account before (its own allowance).
    pub max_failures_per_device: u64,
    /// The HMAC key of device cookies; production refuses the development one.
    pub device_cookie_secret: SecretString,
    pub device_cookie_max_age_days: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SignupThrottleSettings {
    pub window_secs: u64,
    pub max_per_client: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PasswordSettings {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Hashes (sign-up, login, password change) computed at once; each takes
    /// `argon2_memory_kib` of memory while it runs.
    pub max_concurrent_hashes: usize,
    /// How long a request waits for a hashing slot before it is answered 503.
    pub hash_queue_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    pub format: LogFormat,
    pub filter: String,
    /// When set, `GET /metrics` answers only requests with `Authorization: Bearer <token>`.
    /// Required in production.
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Environment {
    /// The environment `APP_ENVIRONMENT` names (default `local`).
    pub fn from_env() -> anyhow::Result<Environment> {
        std::env::var("APP_ENVIRONMENT").unwrap_or_else(|_| "local".into()).try_into()
    }
}

impl Settings {
    /// Reads the layered configuration from `config_dir` for the environment named by
    /// `APP_ENVIRONMENT` (default `local`), then checks it.
    pub fn load(config_dir: &Path) -> anyhow::Result<(Environment, Settings)> {
        let environment = Environment::from_env()?;
        Ok((environment, Self::load_for(config_dir, environment)?))
    }

    /// As `load`, for a given environment (tests use this rather than setting variables).
    pub fn load_for(config_dir: &Path, environment: Environment) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from(config_dir.join("default.toml")))
            .add_source(config::File::from(config_dir.join(format!("{}.toml", environment.as_str()))).required(false));
        // The conventional variables are fallbacks: an explicit, non-empty APP__ form wins.
        let unset = |name: &str| std::env::var(name).map(|v| v.is_empty()).unwrap_or(true);
        if unset("APP__DATABASE__URL")
            && let Ok(url) = std::env::var("DATABASE_URL")
        {
            builder = builder.set_override("database.url", url)?;
        }
        if unset("APP__REDIS__URL")
            && let Ok(url) = std::env::var("REDIS_URL")
        {
            builder = builder.set_override("redis.url", url)?;
        }
        let mut settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("APP")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_origins")
                    .with_list_parse_key("server.trusted_proxies")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()?;
        settings.server.trusted_origins.retain(|o| !o.trim().is_empty());
        settings.check(environment)?;
        Ok(settings)
    }

    /// Refuses settings that would be unsafe or nonsensical; production is held to more.
    pub fn check(&self, environment: Environment) -> anyhow::Result<()> {
        let s = &self.session;
        anyhow::ensure!(s.idle_timeout_secs > 0, "session.idle_timeout_secs must be positive");
        anyhow::ensure!(s.max_per_account > 0, "session.max_per_account must be positive");
        anyhow::ensure!(
            s.absolute_timeout_secs >= s.idle_timeout_secs,
            "session.absolute_timeout_secs must not be shorter than session.idle_timeout_secs"
        );
        anyhow::ensure!(
            s.cookie_same_site != SameSite::None || s.cookie_secure,
            "session.cookie_same_site = \"none\" requires session.cookie_secure = true"
        );
        let l = &self.login_throttle;
        anyhow::ensure!(l.window_secs > 0, "login_throttle.window_secs must be positive");
        anyhow::ensure!(
            l.max_failures_per_email > 0 && l.max_failures_per_client > 0 && l.max_failures_per_device > 0,
            "login_throttle.max_failures_per_* must be positive"
        );
        anyhow::ensure!(l.device_cookie_max_age_days > 0, "login_throttle.device_cookie_max_age_days must be positive");
        anyhow::ensure!(
            self.signup_throttle.window_secs > 0 && self.signup_throttle.max_per_client > 0,
            "signup_throttle.window_secs and signup_throttle.max_per_client must be positive"
        );
        anyhow::ensure!(self.password.max_concurrent_hashes > 0, "password.max_concurrent_hashes must be positive");
        for origin in &self.server.trusted_origins {
            if let Err(e) = tower_http::csrf::CsrfLayer::new().add_trusted_origin(origin) {
                anyhow::bail!("server.trusted_origins: {origin:?} is not an origin: {e:?}");
            }
        }
        if environment == Environment::Production {
            anyhow::ensure!(s.cookie_secure, "production requires session.cookie_secure = true");
            anyhow::ensure!(
                s.cookie_same_site != SameSite::None,
                "production refuses session.cookie_same_site = \"none\""
            );
            anyhow::ensure!(
                self.password.argon2_memory_kib >= 19456 && self.password.argon2_iterations >= 2,
                "production refuses Argon2 costs below 19 MiB and 2 passes"
            );
            anyhow::ensure!(!self.redis.key_prefix.is_empty(), "production requires a redis.key_prefix");
            anyhow::ensure!(
                self.telemetry.metrics_token.as_ref().is_some_and(|t| t.expose_secret().len() >= 32),
                "production requires telemetry.metrics_token (at least 32 characters; set APP__TELEMETRY__METRICS_TOKEN)"
            );
            anyhow::ensure!(
                self.database.url.expose_secret() != "postgres://postgres@127.0.0.1:5432/tonggan",
                "production refuses the development database URL; set APP__DATABASE__URL"
            );
            let device_secret = l.device_cookie_secret.expose_secret();
            anyhow::ensure!(
                device_secret != DEVELOPMENT_DEVICE_COOKIE_SECRET && device_secret.len() >= 32,
                "production requires login_throttle.device_cookie_secret (at least 32 characters, not the development \
                 one; set APP__LOGIN_THROTTLE__DEVICE_COOKIE_SECRET)"
            );
        }
        self.check_order_limits()?;
        self.check_stripe(environment)
    }

    /// A zero limit would refuse every order: a typo, never an intent. Placement batches need
    /// connections to spare.
    fn check_order_limits(&self) -> anyhow::Result<()> {
        let o = &self.orders;
        for (name, value) in [
            ("max_open_orders_per_consumer", o.max_open_orders_per_consumer),
            ("max_reserved_units_per_consumer", o.max_reserved_units_per_consumer),
            ("max_open_orders_per_enterprise", o.max_open_orders_per_enterprise),
            ("max_reserved_units_per_enterprise", o.max_reserved_units_per_enterprise),
            ("create_window_secs", o.create_window_secs),
            ("max_creates_per_account", o.max_creates_per_account),
            ("max_creates_per_client", o.max_creates_per_client),
        ] {
            anyhow::ensure!(value > 0, "orders.{name} must be positive");
        }
        // Each batch being placed holds a pooled connection until it commits; the requests
        // feeding the queue need connections too.
        anyhow::ensure!(
            o.placement_batches >= 1 && o.placement_batches < self.database.max_connections as usize,
            "orders.placement_batches must be at least 1 and below database.max_connections"
        );
        Ok(())
    }

    fn check_stripe(&self, environment: Environment) -> anyhow::Result<()> {
        let s = &self.stripe;
        anyhow::ensure!(s.timeout_secs > 0, "stripe.timeout_secs must be positive");
        anyhow::ensure!(
            s.timeout_secs < self.server.request_timeout_secs,
            "stripe.timeout_secs must be shorter than server.request_timeout_secs, so a slow Stripe \
             answers with our own error rather than the request timeout"
        );
        let base = url::Url::parse(&s.api_base)
            .map_err(|e| anyhow::anyhow!("stripe.api_base {:?} is not a URL: {e}", s.api_base))?;
        anyhow::ensure!(
            matches!(base.scheme(), "http" | "https") && base.query().is_none(),
            "stripe.api_base must be an http(s) URL without a query, not {:?}",
            s.api_base
        );
        if environment == Environment::Production {
            anyhow::ensure!(base.scheme() == "https", "production requires an https stripe.api_base");
            anyhow::ensure!(
                s.secret_key.expose_secret() != DEVELOPMENT_STRIPE_SECRET_KEY,
                "production refuses the development Stripe key; set APP__STRIPE__SECRET_KEY"
            );
            anyhow::ensure!(
                !["sk_test_", "rk_test_"].iter().any(|p| s.secret_key.expose_secret().starts_with(p)),
                "production refuses a Stripe test key; set APP__STRIPE__SECRET_KEY to a live key"
            );
            anyhow::ensure!(
                s.webhook_secret.expose_secret() != DEVELOPMENT_STRIPE_WEBHOOK_SECRET,
                "production refuses the development webhook secret; set APP__STRIPE__WEBHOOK_SECRET"
            );
            anyhow::ensure!(
                s.webhook_secret.expose_secret().starts_with("whsec_"),
                "production requires the webhook endpoint's signing secret (whsec_...) in APP__STRIPE__WEBHOOK_SECRET"
            );
        }
        Ok(())
    }
}
