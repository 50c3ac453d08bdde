//! Who may do what: roles, signing in and out, and the admin's view of accounts and the audit
//! log. Every server function that needs more than the public viewer role checks it here, on
//! the server ([`require`]); the UI only hides what a role cannot do.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What a caller may do. Ordered: each role can do everything the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Anyone, signed in or not: browse grid status read-only.
    Viewer,
    /// A signed-in operator: also asks the analyst (and, later, imports data).
    Operator,
    /// Also manages accounts and reads the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The roles an account can hold (viewer needs no account).
    pub fn parse_account_role(text: &str) -> Option<Role> {
        match text.trim().to_ascii_lowercase().as_str() {
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The caller of a request: an anonymous viewer or a signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub username: Option<String>,
    pub role: Role,
}

impl Principal {
    pub fn viewer() -> Principal {
        Principal { username: None, role: Role::Viewer }
    }

    pub fn account(username: impl Into<String>, role: Role) -> Principal {
        Principal { username: Some(username.into()), role }
    }

    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }

    /// How the audit log names this caller.
    pub fn name(&self) -> &str {
        self.username.as_deref().unwrap_or("anonymous")
    }
}

/// An account as the admin page lists it (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub username: String,
    pub role: Role,
    pub enabled: bool,
    /// Locked after repeated failed sign-ins until this time.
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_sign_in: Option<chrono::DateTime<chrono::Utc>>,
}

/// One line of the audit log: who did what, when, from where, with what outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    /// The account, `anonymous` or `cli`.
    pub actor: String,
    /// What was done, e.g. `sign_in`, `end_sessions`.
    pub action: String,
    /// What it was done to (an account, a file), if anything.
    pub target: Option<String>,
    /// The client address (or `cli`).
    pub client: String,
    /// `ok`, or why not (`bad_credentials`, `locked`, …).
    pub outcome: String,
}

/// Most audit entries one request returns.
pub const AUDIT_PAGE: usize = 200;

/// The caller of the current request, as the server's session layer identified it.
#[cfg(feature = "ssr")]
pub fn current_principal() -> Principal {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>().cloned())
        .unwrap_or_else(Principal::viewer)
}

/// The client of the current request (its address), for limits and the audit log.
#[cfg(feature = "ssr")]
pub fn current_client() -> crate::ports::ClientId {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::ports::ClientId>().cloned())
        .unwrap_or_else(|| crate::ports::ClientId("unknown".to_owned()))
}

/// The caller if they hold `role`; otherwise 401 (not signed in) or 403 (signed in, role too
/// low), with the status set on the response.
#[cfg(feature = "ssr")]
pub fn require(role: Role) -> Result<Principal, AppError> {
    use crate::error::ErrorCode;
    let principal = current_principal();
    if principal.can(role) {
        Ok(principal)
    } else if principal.username.is_none() {
        Err(AppError::new(ErrorCode::Unauthorized, format!("Sign in as {} to do this.", article(role))))
    } else {
        Err(AppError::new(ErrorCode::Forbidden, format!("This needs the {} role.", role.as_str())))
    }
}

#[cfg(feature = "ssr")]
fn article(role: Role) -> &'static str {
    match role {
        Role::Admin => "an admin",
        _ => "an operator",
    }
}

#[cfg(feature = "ssr")]
fn accounts() -> Result<std::sync::Arc<dyn crate::ports::AccountService>, AppError> {
    use_context::<std::sync::Arc<dyn crate::ports::AccountService>>().ok_or_else(AppError::internal)
}

#[cfg(feature = "ssr")]
async fn session() -> Result<tower_sessions::Session, AppError> {
    leptos_axum::extract::<tower_sessions::Session>().await.map_err(|_| AppError::internal())
}

/// Who is calling: the page header shows it and hides what the role cannot do.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Principal, AppError> {
    Ok(current_principal())
}

/// Signs in: a new session id (the old one, if any, is dropped), so a session id planted
/// before sign-in is worthless after it. Failed attempts slow down and lock (per account and
/// per client address).
#[server(endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<Principal, AppError> {
    let client = current_client();
    let signed_in = accounts()?.sign_in(&username, &password, &client).await?;
    let session = session().await?;
    let stored = async {
        session.cycle_id().await?;
        session.insert(crate::ports::SESSION_AUTH_KEY, &signed_in.session).await?;
        // Written now rather than after the answer: a session store out of reach (the Redis
        // that instances share) is then a refusal with a code and a retry hint, not a bare 500.
        session.save().await
    };
    stored.await.map_err(|e| {
        tracing::error!(error = %e, "cannot store the session");
        AppError::new(
                crate::error::ErrorCode::SourceUnavailable,
                "Signing in is not possible right now: the session store cannot be reached. Try again in a moment.",
            )
            .retry_after(5)
    })?;
    Ok(signed_in.principal)
}

/// Signs out: the session is deleted on the server, not only forgotten by the browser.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    let principal = current_principal();
    session().await?.flush().await.map_err(|e| {
        tracing::error!(error = %e, "cannot delete the session");
        AppError::internal()
    })?;
    if principal.username.is_some() {
        accounts()?.record(&principal, "sign_out", None, &current_client(), "ok").await;
    }
    Ok(())
}

/// Every account (admins only).
#[server(endpoint = "users")]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    require(Role::Admin)?;
    accounts()?.users().await
}

/// Ends every session of an account at once (admins only); it must sign in again.
#[server(endpoint = "end_sessions")]
pub async fn end_sessions(username: String) -> Result<(), AppError> {
    let admin = require(Role::Admin)?;
    accounts()?.end_sessions(&admin, &username, &current_client()).await
}

/// Enables or disables an account (admins only; not their own). Disabling also ends its
/// sessions.
#[server(endpoint = "set_user_enabled")]
pub async fn set_user_enabled(username: String, enabled: bool) -> Result<(), AppError> {
    let admin = require(Role::Admin)?;
    accounts()?.set_enabled(&admin, &username, enabled, &current_client()).await
}

/// The newest audit entries, newest first (admins only).
#[server(endpoint = "audit_log")]
pub async fn audit_log() -> Result<Vec<AuditEntry>, AppError> {
    require(Role::Admin)?;
    accounts()?.audit(AUDIT_PAGE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_what_they_may_do() {
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        assert!(Principal::account("a", Role::Admin).can(Role::Operator));
        assert!(!Principal::account("o", Role::Operator).can(Role::Admin));
        assert!(!Principal::viewer().can(Role::Operator));
        assert!(Principal::viewer().can(Role::Viewer));
    }

    #[test]
    fn only_operator_and_admin_are_account_roles() {
        assert_eq!(Role::parse_account_role(" Operator "), Some(Role::Operator));
        assert_eq!(Role::parse_account_role("admin"), Some(Role::Admin));
        assert_eq!(Role::parse_account_role("viewer"), None);
        assert_eq!(Role::parse_account_role("root"), None);
    }
}
