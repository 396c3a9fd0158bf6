//! Login, logout and password change: where passwords meet sessions.

use std::net::IpAddr;

use uuid::Uuid;

use super::db;
use super::model::{Account, Email, Membership, Password};
use crate::error::{AppError, FieldErrors, Result};
use crate::state::AppState;

/// Checks the password and starts a new session (a fresh id, so that an id planted before
/// login is worthless). Unknown emails and wrong passwords cost the same and answer the same.
#[tracing::instrument(skip(state, password))]
pub async fn login(state: &AppState, email: &str, password: &str, client: IpAddr) -> Result<String> {
    let email = email.trim().to_lowercase();
    state.login_throttle.attempt(&email, client).await?;
    // Before reading credentials: a revocation after this moment outlives this login.
    let issued_at = state.sessions.now_us().await?;
    let credentials = match Email::parse(&email) {
        Ok(email) => db::find_credentials_by_email(&state.db, email.as_str()).await?,
        Err(_) => None,
    };
    let ok = state.hasher.verify(password, credentials.as_ref().map(|c| c.password_hash.as_str())).await?;
    let Some(credentials) = credentials.filter(|_| ok) else {
        return Err(AppError::InvalidCredentials);
    };
    state.login_throttle.record_success(&email, client).await?;
    if credentials.status != "active" {
        return Err(AppError::forbidden("account_disabled", "this account has been disabled"));
    }
    Ok(state.sessions.create(credentials.id, credentials.role, issued_at).await?)
}

/// The signed-in account and its memberships (`/me`); 401 once the account is disabled.
#[tracing::instrument(skip(state))]
pub async fn profile(state: &AppState, account_id: Uuid) -> Result<(Account, Vec<Membership>)> {
    let account = db::find_account(&state.db, account_id).await?.ok_or(AppError::Unauthenticated)?;
    let memberships = db::memberships_of(&state.db, account_id).await?;
    Ok((account, memberships))
}

/// Changes the password after checking the current one, ends every session of the account
/// (a stolen session must not survive the change) and returns a new session for this client.
#[tracing::instrument(skip(state, current, new))]
pub async fn change_password(
    state: &AppState,
    account_id: Uuid,
    client: IpAddr,
    current: &str,
    new: &str,
) -> Result<String> {
    let mut errors = FieldErrors::new();
    let new = errors.check("new_password", Password::parse(new));
    if new.as_ref().is_some_and(|n| n.expose() == current) {
        errors.add("new_password", "must differ from the current password");
    }
    let credentials = db::find_credentials_by_id(&state.db, account_id).await?.ok_or(AppError::Unauthenticated)?;
    // Guesses at the current password through a stolen session count like failed logins.
    state.login_throttle.attempt(&credentials.email, client).await?;
    if state.hasher.verify(current, Some(&credentials.password_hash)).await? {
        state.login_throttle.record_success(&credentials.email, client).await?;
    } else {
        errors.add("current_password", "is wrong");
    }
    let new = match new {
        Some(new) if errors.is_empty() => new,
        _ => return Err(errors.into_error()),
    };
    let hash = state.hasher.hash(new.expose()).await?;
    let mut tx = state.db.begin().await?;
    db::update_password(&mut *tx, account_id, &hash).await?;
    // Before the commit, so that a Redis failure keeps the old password and sessions both;
    // after it, so that a login that read the old hash meanwhile cannot keep its session.
    state.sessions.revoke_all(account_id).await?;
    tx.commit().await?;
    state.sessions.revoke_all(account_id).await?;
    let issued_at = state.sessions.now_us().await?;
    Ok(state.sessions.create(account_id, credentials.role, issued_at).await?)
}
