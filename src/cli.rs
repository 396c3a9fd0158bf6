//! The command line: `serve`, `migrate`, `seed`, `admin create`, `audit-verify`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use sqlx::PgPool;

use crate::accounts::{self, model::AccountRole, model::Email, model::Password};
use crate::audit::{self, model::Verification};
use crate::config::Settings;
use crate::password::PasswordHasher;
use crate::state::{self, AppState};
use crate::trail::{self, Actor, Entry};
use crate::{startup, tallies, telemetry};

/// The migrations, compiled in so the binary can migrate any database it is pointed at.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Parser)]
#[command(name = "tonggan", version, about = "Consumption-assistance marketplace backend")]
pub struct Cli {
    /// Folder holding default.toml and the per-environment overlays.
    #[arg(long, global = true, default_value = "config", env = "APP_CONFIG_DIR")]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fill the database with demo data (real Gansu counties and Tianjin districts), and/or add
    /// paid order history to it for benchmarks. Refused in production.
    #[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["demo", "ledger"])))]
    Seed {
        /// The demo data set: staff, consumers, enterprises, producers and products.
        #[arg(long)]
        demo: bool,
        /// How many products the demo creates.
        #[arg(long, default_value_t = 2000, requires = "demo")]
        products: usize,
        /// Add this many paid order lines (ledger rows), with the orders, payments, refunds and
        /// new buyers they imply, to a database holding the demo data.
        #[arg(long)]
        ledger: Option<usize>,
    },
    /// Check, fen-exactly, that tallies equal the ledger, the ledger equals paid order lines
    /// minus refunds, and paid orders equal the money recorded; exits 1 when anything differs.
    Reconcile {
        /// First Shanghai day of payment checked (YYYY-MM-DD); all time when left out.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last Shanghai day of payment checked (YYYY-MM-DD, inclusive).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// First rebuild the materialized tallies from the ledger.
        #[arg(long)]
        rebuild: bool,
    },
    /// Platform staff accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Walk the whole audit log, recomputing every hash; exits non-zero naming the first entry
    /// that does not match.
    AuditVerify,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an admin or auditor; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: StaffRole,
        /// Name shown in audit trails (defaults to the email).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StaffRole {
    Admin,
    Auditor,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let environment = crate::config::Environment::from_env()?;
    // Before the settings, so that nothing about them can let a demo seed through.
    anyhow::ensure!(
        !(environment == crate::config::Environment::Production && matches!(cli.command, Command::Seed { .. })),
        "seeding is refused in production: it writes accounts with a published password"
    );
    let settings = Settings::load_for(&cli.config_dir, environment)?;
    let _log_writer = telemetry::init_tracing(&settings.telemetry);
    match cli.command {
        Command::Serve => serve(environment, settings).await,
        Command::Migrate => {
            migrate(&state::db_pool(&settings)?).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed { demo, products, ledger } => seed(&settings, demo.then_some(products), ledger).await,
        Command::Reconcile { from, to, rebuild } => reconcile(&settings, from, to, rebuild).await,
        Command::Admin { command: AdminCommand::Create { email, role, name } } => {
            create_staff(&settings, &email, role, name.as_deref()).await
        }
        Command::AuditVerify => audit_verify(settings).await,
    }
}

async fn serve(environment: crate::config::Environment, settings: Settings) -> anyhow::Result<()> {
    let addr = format!("{}:{}", settings.server.host, settings.server.port);
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(environment = environment.as_str(), "listening on http://{local}");
    let state = AppState::build(settings)?;
    startup::serve(listener, state).await
}

/// `seed`: the demo (when `products` is given) and then, when asked, `ledger` rows on top.
async fn seed(settings: &Settings, products: Option<usize>, ledger: Option<usize>) -> anyhow::Result<()> {
    let pool = state::db_pool(settings)?;
    let hasher = PasswordHasher::new(&settings.password)?;
    if let Some(products) = products {
        let started = std::time::Instant::now();
        if crate::seed::demo(&pool, &hasher, products).await? {
            println!(
                "seeded {products} products in {:.1} s; sign in as {} / {} (admin), {} (auditor), producer0@demo.tonggan.cn, enterprise0@demo.tonggan.cn, consumer0@demo.tonggan.cn",
                started.elapsed().as_secs_f64(),
                crate::seed::DEMO_ADMIN,
                crate::seed::DEMO_PASSWORD,
                crate::seed::DEMO_AUDITOR,
            );
        } else if ledger.is_none() {
            println!("the database already holds the demo data; nothing changed");
        }
    }
    if let Some(lines) = ledger {
        let started = std::time::Instant::now();
        let seeded = crate::seed::ledger(&pool, &hasher, lines).await?;
        // Servers already running must not go on serving tallies cached before the new history.
        AppState::build(settings.clone())?.ledger_cache.bump_after_commit().await;
        println!(
            "seeded {} ledger lines ({} orders, {} refunds; {} consumers and {} enterprises added) in {:.1} s",
            seeded.lines,
            seeded.orders,
            seeded.refunds,
            seeded.consumers_added,
            seeded.enterprises_added,
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(())
}

/// `reconcile`: prints the report as JSON on standard output; differences make the exit code 1.
async fn reconcile(
    settings: &Settings,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    rebuild: bool,
) -> anyhow::Result<()> {
    let pool = state::db_pool(settings)?;
    if rebuild {
        let started = std::time::Instant::now();
        let rows = tallies::reconcile::rebuild(&pool).await?;
        eprintln!("rebuilt {rows} tally rows from the ledger in {:.1} s", started.elapsed().as_secs_f64());
    }
    let started = std::time::Instant::now();
    let report = tallies::reconcile::run(&pool, from, to).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "reconciled in {:.1} s: {} tally, {} ledger, {} payment differences{}",
        started.elapsed().as_secs_f64(),
        report.tallies.len(),
        report.ledger.len(),
        report.payments.len(),
        if report.truncated { " (lists cut short)" } else { "" },
    );
    if !report.ok {
        anyhow::bail!("reconciliation found differences");
    }
    Ok(())
}

/// `admin create`: the password comes from standard input, never from the command line. The
/// account and its `staff.create` audit entry (by `system:cli`) commit together.
async fn create_staff(settings: &Settings, email: &str, role: StaffRole, name: Option<&str>) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password).context("cannot read the password from stdin")?;
    let password = password.trim_end_matches(['\r', '\n']);
    let password = Password::parse(password).map_err(|m| anyhow::anyhow!("the password {m}"))?;
    let pool = state::db_pool(settings)?;
    let hasher = PasswordHasher::new(&settings.password)?;
    let role = match role {
        StaffRole::Admin => AccountRole::Admin,
        StaffRole::Auditor => AccountRole::Auditor,
    };
    let display_name = name.unwrap_or(email.as_str());
    let mut tx = pool.begin().await.context("cannot reach the database")?;
    let account = accounts::create_staff(&mut *tx, &hasher, &email, &password, display_name, role).await.map_err(
        |e| match e {
            crate::error::AppError::Conflict { detail, .. } => anyhow::anyhow!(detail),
            other => anyhow::anyhow!("cannot create the account: {other:?}"),
        },
    )?;
    let entry = Entry::new(Actor::System("cli"), "staff.create", "account", account.id).detail(json!({
        "email": account.email,
        "role": account.role,
        "display_name": display_name,
    }));
    trail::append(&mut tx, entry).await.map_err(|e| anyhow::anyhow!("cannot audit-log the account: {e:?}"))?;
    tx.commit().await.context("cannot commit the account")?;
    println!("created {:?} {} ({})", account.role, account.email, account.id);
    Ok(())
}

/// `audit-verify`: the same walk as `GET /api/v1/admin/audit-log/verify`; an error (and a
/// non-zero exit) naming the first bad entry when the chain does not hold.
async fn audit_verify(settings: Settings) -> anyhow::Result<()> {
    let state = AppState::build(settings)?;
    let verification = audit::verify(&state).await.map_err(|e| anyhow::anyhow!("cannot read the audit log: {e:?}"))?;
    match verification {
        Verification::Intact { entries, last_seq, last_hash, .. } => {
            let last = match (last_seq, last_hash) {
                (Some(seq), Some(hash)) => format!("; the last is {seq}, hash {hash}"),
                _ => String::new(),
            };
            println!("the audit log is intact: {entries} entries{last}");
            Ok(())
        }
        Verification::Broken { entries_checked, first_bad, .. } => anyhow::bail!(
            "the audit log does not verify: entry {}: {} ({entries_checked} entries checked)",
            first_bad.seq,
            first_bad.problem.as_str()
        ),
    }
}

/// Applies every pending migration (safe to run from several instances: sqlx takes an
/// advisory lock).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("migrations failed")
}
