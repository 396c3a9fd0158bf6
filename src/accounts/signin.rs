//! Login, logout and password change: where passwords meet sessions.

use std::net::IpAddr;

use chrono::Utc;
use uuid::Uuid;

use super::model::{Account, Email, Membership, Password};
use super::{db, device};
use crate::error::{AppError, FieldErrors, Result};
use crate::state::AppState;
use crate::throttle::LoginAttempt;

/// A successful login: the new session, and a fresh device cookie for this client.
pub struct SignedIn {
    pub session_id: String,
    pub device_cookie: String,
}

/// Passwords are at most this long (`Password::parse`), so a longer one matches no account
/// and is refused without hashing it.
const MAX_PASSWORD_CHARS: usize = 128;

/// Which allowance of the login throttle an attempt for `email` spends (see `device`).
fn attempt_of<'a>(
    state: &AppState,
    email: Option<&'a Email>,
    device_cookie: Option<&'a str>,
    client: IpAddr,
) -> LoginAttempt<'a> {
    let known = email.zip(device_cookie).and_then(|(email, cookie)| {
        device::verify(&state.settings.login_throttle, cookie, email, Utc::now().timestamp())
    });
    match known {
        Some(device) => LoginAttempt::KnownDevice { device },
        None => LoginAttempt::Unknown { email: email.map(Email::as_str), client },
    }
}

/// Checks the password and starts a new session (a fresh id, so that an id planted before
/// login is worthless). Unknown emails and wrong passwords cost the same and answer the same;
/// a malformed email or an overlong password, which no account can have, is refused before
/// any hashing.
#[tracing::instrument(level = "debug", skip(state, password, device_cookie))]
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    device_cookie: Option<&str>,
    client: IpAddr,
) -> Result<SignedIn> {
    let email = Email::parse(email).ok();
    let attempt = attempt_of(state, email.as_ref(), device_cookie, client);
    state.login_throttle.attempt(attempt).await?;
    let Some(email) = email.as_ref().filter(|_| password.chars().count() <= MAX_PASSWORD_CHARS) else {
        return Err(AppError::InvalidCredentials);
    };
    // Before reading credentials: a revocation after this moment outlives this login.
    let issued_at = state.sessions.now_us().await?;
    let credentials = db::find_credentials_by_email(&state.db, email.as_str()).await?;
    let ok = state.hasher.verify(password, credentials.as_ref().map(|c| c.password_hash.as_str())).await?;
    let Some(credentials) = credentials.filter(|_| ok) else {
        return Err(AppError::InvalidCredentials);
    };
    state.login_throttle.record_success(attempt).await?;
    if credentials.status != "active" {
        return Err(AppError::forbidden("account_disabled", msg!("account_disabled")));
    }
    let session_id = state.sessions.create(credentials.id, credentials.role, issued_at).await?;
    let device_cookie = device::issue(&state.settings.login_throttle, email, Utc::now().timestamp());
    Ok(SignedIn { session_id, device_cookie })
}

/// The signed-in account and its memberships (`/me`); 401 once the account is disabled.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn profile(state: &AppState, account_id: Uuid) -> Result<(Account, Vec<Membership>)> {
    let account = db::find_account(&state.db, account_id).await?.ok_or(AppError::Unauthenticated)?;
    let memberships = db::memberships_of(&state.db, account_id).await?;
    Ok((account, memberships))
}

/// Changes the password after checking the current one, ends every session of the account
/// (a stolen session must not survive the change) and returns a new session for this client.
#[tracing::instrument(level = "debug", skip(state, current, new))]
pub async fn change_password(
    state: &AppState,
    account_id: Uuid,
    client: IpAddr,
    device_cookie: Option<&str>,
    current: &str,
    new: &str,
) -> Result<String> {
    let mut errors = FieldErrors::new();
    let new = errors.check("new_password", Password::parse(new));
    if new.as_ref().is_some_and(|n| n.expose() == current) {
        errors.add("new_password", msg!("password-unchanged"));
    }
    let credentials = db::find_credentials_by_id(&state.db, account_id).await?.ok_or(AppError::Unauthenticated)?;
    // Guesses at the current password through a stolen session count like failed logins.
    let email = Email::parse(&credentials.email).ok();
    let attempt = attempt_of(state, email.as_ref(), device_cookie, client);
    state.login_throttle.attempt(attempt).await?;
    if current.chars().count() <= MAX_PASSWORD_CHARS
        && state.hasher.verify(current, Some(&credentials.password_hash)).await?
    {
        state.login_throttle.record_success(attempt).await?;
    } else {
        errors.add("current_password", msg!("password-wrong"));
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
