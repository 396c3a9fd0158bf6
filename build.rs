//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the `migrations`
//! folder at compile time, and without this cargo does not know to look at it (sqlx's own
//! advice, `sqlx migrate build-script`).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
