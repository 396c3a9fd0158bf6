//! Who is asking: the session cookie, resolved against Redis, and role guards on top of it.

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::config::{self, SessionSettings};
use crate::error::AppError;
use crate::identity::AccountRole;
pub use crate::identity::CurrentUser;
use crate::state::AppState;

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(session_id) = jar.get(&state.settings.session.cookie_name).map(|c| c.value().to_string()) else {
            return Err(AppError::Unauthenticated);
        };
        let Some(data) = state.sessions.load(&session_id).await? else {
            return Err(AppError::Unauthenticated);
        };
        Ok(CurrentUser { account_id: data.account_id, role: data.role, session_id })
    }
}

impl<S> OptionalFromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        match <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(user) => Ok(Some(user)),
            Err(AppError::Unauthenticated) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A platform admin or auditor: may read the admin views.
#[derive(Debug, Clone)]
pub struct Staff(pub CurrentUser);

impl<S> FromRequestParts<S> for Staff
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        match user.role {
            AccountRole::Admin | AccountRole::Auditor => Ok(Staff(user)),
            _ => Err(AppError::forbidden("forbidden", msg!("staff-only"))),
        }
    }
}

/// A platform admin: may change what the admin views show.
#[derive(Debug, Clone)]
pub struct Admin(pub CurrentUser);

impl<S> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        match user.role {
            AccountRole::Admin => Ok(Admin(user)),
            _ => Err(AppError::forbidden("forbidden", msg!("admins-only"))),
        }
    }
}

/// The cookie that carries a new session id.
pub fn session_cookie(settings: &SessionSettings, session_id: String) -> Cookie<'static> {
    Cookie::build((settings.cookie_name.clone(), session_id))
        .http_only(true)
        .secure(settings.cookie_secure)
        .same_site(same_site(settings.cookie_same_site))
        .path("/")
        .max_age(cookie::time::Duration::seconds(settings.absolute_timeout_secs as i64))
        .build()
}

/// The cookie that tells the browser to forget the session.
pub fn removal_cookie(settings: &SessionSettings) -> Cookie<'static> {
    Cookie::build((settings.cookie_name.clone(), ""))
        .http_only(true)
        .secure(settings.cookie_secure)
        .same_site(same_site(settings.cookie_same_site))
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build()
}

fn same_site(value: config::SameSite) -> SameSite {
    match value {
        config::SameSite::Strict => SameSite::Strict,
        config::SameSite::Lax => SameSite::Lax,
        config::SameSite::None => SameSite::None,
    }
}
