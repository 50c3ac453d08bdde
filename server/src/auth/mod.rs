//! Operator accounts: passwords (Argon2id), sign-in within brute-force limits, sessions that an
//! admin can end, and the audit log of who did what.
//!
//! - Passwords: at least 12 characters, no composition rules (NIST SP 800-63B); hashed with
//!   Argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane) on the blocking pool, at most
//!   as many at once as there are cores, so a burst of sign-ins cannot starve the runtime.
//! - Brute force (OWASP's authentication guidance: throttle, do not lock): failed sign-ins count
//!   per name *and* address. After `login_max_failures` in a row, that name may be tried from
//!   that address once per `login_lock_seconds`, the wait doubling per further failure up to
//!   15 minutes; every other address is unaffected, so nobody can lock an owner out from
//!   elsewhere. Failures also count per address, whatever the name: after
//!   `login_client_max_failures`, that address may only sign in to names that have signed in
//!   from it before (a shared address's own operators keep working while a guesser behind it
//!   is held back), for 15 minutes after its last failure. A success clears both counts for
//!   that name and address. Unknown names count and answer exactly as known ones (the same
//!   401, the same hashing time, the same 429 when throttled), so answers tell nothing about
//!   which accounts exist. An admin enabling an account, or a new password, clears its waits.
//! - Sessions remember the account's `generation` at sign-in; ending an account's sessions,
//!   disabling it or changing its password bumps it, and older sessions stop counting at once.

pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use app::api::auth::{AuditEntry, Principal, Role, UserSummary};
use app::error::{AppError, ErrorCode};
use app::ports::{AccountService, ClientId, SessionAuth, SignedIn, StoreError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::{Mutex, Semaphore};

use crate::config::Config;
use crate::store::{Account, AccountStore};

pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longer passwords are refused before hashing (hashing cost must not be the attacker's choice).
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MAX_USERNAME_CHARS: usize = 64;
/// The longest wait between two tries of one name from one address, and how long an address
/// over its failure limit stays limited to names it knows.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// How long a name counts as known from an address after it signed in from there.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 86_400);

/// Why an account change was refused (for the CLI and the admin page).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("no account named '{0}'")]
    NotFound(String),
    #[error("an account named '{0}' already exists")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> AppError {
        match e {
            AccountError::Invalid(message) => AppError::invalid_input(message),
            AccountError::NotFound(name) => {
                AppError::new(ErrorCode::NotFound, format!("No account named '{name}'."))
            }
            AccountError::Exists(name) => {
                AppError::invalid_input(format!("An account named '{name}' already exists."))
            }
            AccountError::Store(e) => AppError::from(e),
        }
    }
}

/// A user name as stored: trimmed, lower case, 1–64 of `a-z 0-9 . _ -`.
pub fn normalise_username(name: &str) -> Result<String, AccountError> {
    let name = name.trim().to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_USERNAME_CHARS
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(name)
    } else {
        Err(AccountError::Invalid(format!(
            "A user name is 1 to {MAX_USERNAME_CHARS} letters, digits, dots, dashes or underscores."
        )))
    }
}

/// The password policy: length only.
pub fn check_password_policy(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::Invalid(format!(
            "A password needs at least {MIN_PASSWORD_CHARS} characters."
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::Invalid(format!("A password can be at most {MAX_PASSWORD_BYTES} bytes.")));
    }
    Ok(())
}

/// Sign-in limits, from the configuration.
#[derive(Clone, Debug)]
pub struct SignInLimits {
    pub account_failures: u32,
    pub client_failures: u32,
    pub lock: Duration,
}

impl SignInLimits {
    pub fn from_config(config: &Config) -> SignInLimits {
        SignInLimits {
            account_failures: config.login_max_failures,
            client_failures: config.login_client_max_failures,
            lock: Duration::from_secs(config.login_lock_seconds),
        }
    }

    /// How long an address over its failure limit stays limited to the names it knows.
    fn client_lock(&self) -> Duration {
        (self.lock * 15).min(MAX_WAIT)
    }

    /// The wait before one name may be tried again from one address after `failures`
    /// failures in a row there (none below the limit): `lock`, doubling per further failure.
    fn pair_wait(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.account_failures)?;
        Some(self.lock.saturating_mul(2u32.saturating_pow(over.min(20))).min(MAX_WAIT))
    }
}

/// Failed sign-ins in a row for one name from one address, and when it may be tried again.
#[derive(Clone, Copy, Debug, Default)]
struct Strikes {
    failures: u32,
    retry_at: Option<std::time::Instant>,
}

impl Strikes {
    /// The time left before the next try, if it must wait.
    fn wait(&self) -> Option<Duration> {
        self.retry_at
            .and_then(|at| at.checked_duration_since(std::time::Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

/// Argon2id with OWASP's minimum parameters (m = 19 MiB, t = 2, p = 1).
fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"),
    )
}

/// Password hashing off the async runtime, a bounded number at a time.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Hasher { permits: Arc::new(Semaphore::new(cores)) }
    }
}

impl Hasher {
    pub async fn hash(&self, password: &str) -> Result<String, AccountError> {
        let password = password.to_owned();
        self.blocking(move || {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| AccountError::Invalid(format!("cannot hash the password: {e}")))
        })
        .await?
    }

    /// Whether `password` matches the PHC string `hash` (a malformed hash matches nothing).
    pub async fn verify(&self, password: &str, hash: &str) -> bool {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.blocking(move || {
            PasswordHash::new(&hash)
                .is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AccountError> {
        let _permit =
            self.permits.acquire().await.map_err(|_| AccountError::Invalid("shutting down".into()))?;
        tokio::task::spawn_blocking(move || {
            let done = work();
            // Each hash fills 19 MiB, freed at once: hand it back rather than keep it
            // (200 sign-ins otherwise left the process 16 MB larger).
            crate::memory::release_free_memory();
            done
        })
        .await
        .map_err(|e| AccountError::Invalid(format!("hashing failed: {e}")))
    }
}

/// The account service the server functions and the CLI use.
pub struct Accounts {
    store: Arc<dyn AccountStore>,
    hasher: Hasher,
    limits: SignInLimits,
    /// Failed sign-ins per client address, whatever the name; an entry lives `client_lock`
    /// after its last update.
    client_failures: moka::sync::Cache<String, u32>,
    /// Failed sign-ins per name, then per address: one entry per name, so that lifting a
    /// name's waits (an admin, a new password) is one removal.
    strikes: moka::sync::Cache<String, Arc<std::sync::Mutex<std::collections::HashMap<String, Strikes>>>>,
    /// Names that signed in from an address (`name`, NUL, address), for [`KNOWN_FOR`].
    known: moka::sync::Cache<String, ()>,
    /// Set: the failures per address are also counted in Redis, for every instance together.
    shared: Option<crate::shared::Redis>,
    /// What a session's account allows (role, enabled, generation), read at most once per
    /// [`ACCOUNT_RECHECK`] per account: signed-in requests then read no account record.
    /// Emptied of an account when this process changes it; a change by another process (the
    /// CLI, another instance) counts within that time.
    principals: moka::sync::Cache<String, Option<Arc<crate::store::Account>>>,
    /// Serialises read-modify-write of accounts (failure counters, generation).
    updates: Mutex<()>,
    /// Verified against when the account does not exist, so unknown names take as long.
    decoy_hash: tokio::sync::OnceCell<String>,
}

/// How long a session's account is taken as read (see `Accounts::principals`).
pub const ACCOUNT_RECHECK: Duration = Duration::from_secs(1);

fn bad_credentials() -> AppError {
    AppError::new(ErrorCode::Unauthorized, "The user name or password is wrong.")
}

fn throttled(remaining: Duration) -> AppError {
    AppError::new(ErrorCode::RateLimited, "Too many failed sign-ins: signing in is paused.")
        .retry_after(remaining.as_secs_f64().ceil().max(1.0) as u64)
}

/// Most addresses kept per name (an attacker rotating addresses cannot grow memory beyond it).
const MAX_ADDRESSES_PER_NAME: usize = 10_000;

impl Accounts {
    pub fn new(store: Arc<dyn AccountStore>, limits: SignInLimits) -> Accounts {
        let client_failures =
            moka::sync::Cache::builder().max_capacity(100_000).time_to_live(limits.client_lock()).build();
        Accounts {
            store,
            hasher: Hasher::default(),
            limits,
            client_failures,
            strikes: moka::sync::Cache::builder().max_capacity(100_000).time_to_idle(MAX_WAIT * 4).build(),
            known: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(KNOWN_FOR).build(),
            shared: None,
            principals: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ACCOUNT_RECHECK)
                .build(),
            updates: Mutex::new(()),
            decoy_hash: tokio::sync::OnceCell::new(),
        }
    }

    /// Counts failed sign-ins per address in `redis` too, so a client's failures on one
    /// instance count on all.
    pub fn with_shared(mut self, redis: Option<crate::shared::Redis>) -> Accounts {
        self.shared = redis;
        self
    }

    pub fn store(&self) -> &Arc<dyn AccountStore> {
        &self.store
    }

    /// Adds an account (CLI).
    pub async fn add(
        &self,
        username: &str,
        role: Role,
        password: &str,
        actor: &str,
    ) -> Result<Account, AccountError> {
        let username = normalise_username(username)?;
        check_password_policy(password)?;
        let account = Account {
            username: username.clone(),
            role,
            password_hash: self.hasher.hash(password).await?,
            enabled: true,
            generation: 0,
            failed_sign_ins: 0,
            locked_until: None,
            created_at: Utc::now(),
            last_sign_in: None,
        };
        if !self.store.create_account(&account).await? {
            return Err(AccountError::Exists(username));
        }
        self.audit_as(actor, "add_user", Some(&username), "cli", &format!("ok: {}", role.as_str())).await;
        Ok(account)
    }

    /// Sets a new password (CLI); also clears its failed sign-ins and ends its sessions.
    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
        actor: &str,
    ) -> Result<(), AccountError> {
        check_password_policy(password)?;
        let hash = self.hasher.hash(password).await?;
        let account = self
            .change(username, |a| {
                a.password_hash = hash;
                a.failed_sign_ins = 0;
                a.locked_until = None;
                a.generation += 1;
            })
            .await?;
        self.strikes.invalidate(&account.username);
        self.audit_as(actor, "set_password", Some(username), "cli", "ok").await;
        Ok(())
    }

    /// Enables or disables an account; disabling ends its sessions.
    pub async fn enable(
        &self,
        username: &str,
        enabled: bool,
        actor: &str,
        client: &str,
    ) -> Result<(), AccountError> {
        let account = self
            .change(username, |a| {
                a.enabled = enabled;
                if !enabled {
                    a.generation += 1;
                } else {
                    a.failed_sign_ins = 0;
                    a.locked_until = None;
                }
            })
            .await?;
        if enabled {
            // Enabling is also how an admin lifts the waits on a name.
            self.strikes.invalidate(&account.username);
        }
        self.audit_as(
            actor,
            if enabled { "enable_user" } else { "disable_user" },
            Some(username),
            client,
            "ok",
        )
        .await;
        Ok(())
    }

    pub async fn list(&self) -> Result<Vec<Account>, AccountError> {
        Ok(self.store.accounts().await?)
    }

    /// Applies `edit` to the stored account, under the update lock.
    async fn change(&self, username: &str, edit: impl FnOnce(&mut Account)) -> Result<Account, AccountError> {
        let username = normalise_username(username)?;
        let _guard = self.updates.lock().await;
        let mut account =
            self.store.account(&username).await?.ok_or_else(|| AccountError::NotFound(username.clone()))?;
        edit(&mut account);
        self.store.save_account(&account).await?;
        self.principals.invalidate(&username);
        Ok(account)
    }

    /// The signed-in caller a session stands for, or `None` when the session no longer counts
    /// (account gone, disabled, or its sessions ended since).
    pub async fn principal_for(&self, session: &SessionAuth) -> Result<Option<Principal>, StoreError> {
        let account = match self.principals.get(&session.username) {
            Some(account) => account,
            None => {
                let account = self.store.account(&session.username).await?.map(Arc::new);
                self.principals.insert(session.username.clone(), account.clone());
                account
            }
        };
        Ok(account
            .filter(|a| a.enabled && a.generation == session.generation)
            .map(|a| Principal::account(a.username.clone(), a.role)))
    }

    async fn audit_as(&self, actor: &str, action: &str, target: Option<&str>, client: &str, outcome: &str) {
        let entry = AuditEntry {
            at: Utc::now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            client: client.to_owned(),
            outcome: outcome.to_owned(),
        };
        tracing::info!(target: "audit", actor, action, subject = target, client, outcome, "audit");
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, action, "cannot write the audit log");
        }
    }

    async fn decoy(&self) -> &str {
        self.decoy_hash
            .get_or_init(|| async { self.hasher.hash("not a password anyone has").await.unwrap_or_default() })
            .await
    }

    fn shared_failures_key(client: &ClientId) -> String {
        format!("{}sign-in-failures:{}", crate::shared::PREFIX, client.0)
    }

    /// Failed sign-ins of the client: this instance's count, or all instances' with Redis
    /// (the larger, so an unreachable Redis never lowers it).
    async fn client_failures(&self, client: &ClientId) -> u32 {
        let local = self.client_failures.get(&client.0).unwrap_or(0);
        let Some(redis) = &self.shared else { return local };
        let shared: Result<Option<u32>, _> = redis::cmd("GET")
            .arg(Self::shared_failures_key(client))
            .query_async(&mut redis.connection())
            .await;
        match shared {
            Ok(shared) => local.max(shared.unwrap_or(0)),
            Err(e) => {
                tracing::warn!(error = %e.category(), "shared sign-in failures not readable; this instance's count");
                local
            }
        }
    }

    /// Counts a failed sign-in against the client (here, and in Redis when shared; the
    /// count lives `client_lock` after its last failure).
    async fn client_failed(&self, client: &ClientId) {
        let count = self.client_failures.get(&client.0).unwrap_or(0) + 1;
        self.client_failures.insert(client.0.clone(), count);
        if let Some(redis) = &self.shared {
            let key = Self::shared_failures_key(client);
            let counted: Result<(), _> = redis::pipe()
                .atomic()
                .incr(&key, 1)
                .ignore()
                .expire(&key, self.limits.client_lock().as_secs().max(1) as i64)
                .ignore()
                .query_async(&mut redis.connection())
                .await;
            if let Err(e) = counted {
                tracing::warn!(error = %e.category(), "sign-in failure not counted in Redis");
            }
        }
    }
}

impl Accounts {
    fn name_strikes(&self, name: &str) -> Arc<std::sync::Mutex<std::collections::HashMap<String, Strikes>>> {
        self.strikes.get_with(name.to_owned(), Default::default)
    }

    /// How long `name` must wait before it is tried again from `client`.
    fn pair_wait(&self, name: &str, client: &ClientId) -> Option<Duration> {
        let strikes = self.strikes.get(name)?;
        let strikes = strikes.lock().unwrap_or_else(|p| p.into_inner());
        strikes.get(&client.0).and_then(Strikes::wait)
    }

    /// Counts a failed sign-in to `name` from `client` (whether or not the account exists).
    async fn failed(&self, name: &str, client: &ClientId) {
        {
            let strikes = self.name_strikes(name);
            let mut strikes = strikes.lock().unwrap_or_else(|p| p.into_inner());
            if strikes.len() >= MAX_ADDRESSES_PER_NAME && !strikes.contains_key(&client.0) {
                strikes.clear();
            }
            let entry = strikes.entry(client.0.clone()).or_default();
            entry.failures = entry.failures.saturating_add(1);
            entry.retry_at =
                self.limits.pair_wait(entry.failures).map(|wait| std::time::Instant::now() + wait);
        }
        self.client_failed(client).await;
    }

    /// A sign-in to `name` from `client` succeeded: its counts there start again, and the
    /// name is known from that address.
    async fn succeeded(&self, name: &str, client: &ClientId) {
        if let Some(strikes) = self.strikes.get(name) {
            strikes.lock().unwrap_or_else(|p| p.into_inner()).remove(&client.0);
        }
        self.known.insert(known_key(name, client), ());
        self.client_failures.invalidate(&client.0);
        if let Some(redis) = &self.shared {
            let cleared: Result<(), _> = redis::cmd("DEL")
                .arg(Self::shared_failures_key(client))
                .query_async(&mut redis.connection())
                .await;
            if let Err(e) = cleared {
                tracing::warn!(error = %e.category(), "sign-in failures not cleared in Redis");
            }
        }
    }
}

fn known_key(name: &str, client: &ClientId) -> String {
    format!("{name}\0{}", client.0)
}

#[async_trait]
impl AccountService for Accounts {
    async fn sign_in(&self, username: &str, password: &str, client: &ClientId) -> Result<SignedIn, AppError> {
        // The name as counted: a malformed one is counted under its trimmed, lower-case,
        // bounded form, so that it is throttled exactly like a real name.
        let counted: String = username.trim().to_lowercase().chars().take(MAX_USERNAME_CHARS).collect();
        if let Some(wait) = self.pair_wait(&counted, client) {
            self.audit_as("anonymous", "sign_in", None, &client.0, "throttled").await;
            return Err(throttled(wait));
        }
        if self.client_failures(client).await >= self.limits.client_failures
            && !self.known.contains_key(&known_key(&counted, client))
        {
            tracing::warn!(client = %client.0, "sign-in refused: too many failures from this client");
            self.audit_as("anonymous", "sign_in", None, &client.0, "client_throttled").await;
            return Err(throttled(self.limits.client_lock()));
        }
        // Malformed names and oversized passwords fail like wrong ones, without a lookup.
        let (Ok(username), true) = (normalise_username(username), password.len() <= MAX_PASSWORD_BYTES)
        else {
            let _ = self.hasher.verify("", self.decoy().await).await;
            self.failed(&counted, client).await;
            return Err(bad_credentials());
        };
        let Some(account) = self.store.account(&username).await? else {
            let _ = self.hasher.verify(password, self.decoy().await).await;
            self.failed(&username, client).await;
            tracing::warn!(client = %client.0, "sign-in failed: no such account");
            self.audit_as("anonymous", "sign_in", None, &client.0, "unknown_account").await;
            return Err(bad_credentials());
        };
        let now = Utc::now();
        if !self.hasher.verify(password, &account.password_hash).await {
            self.failed(&username, client).await;
            // Counted on the account for the admin's view; it locks nothing.
            let updated = self
                .change(&username, |a| {
                    a.failed_sign_ins = a.failed_sign_ins.saturating_add(1);
                    a.locked_until = None;
                })
                .await
                .map_err(AppError::from)?;
            tracing::warn!(user = %username, client = %client.0, failures = updated.failed_sign_ins, "sign-in failed: wrong password");
            let outcome = if self.pair_wait(&username, client).is_some() {
                "bad_password_throttled"
            } else {
                "bad_password"
            };
            self.audit_as(&username, "sign_in", Some(&username), &client.0, outcome).await;
            return Err(bad_credentials());
        }
        if !account.enabled {
            self.audit_as(&username, "sign_in", Some(&username), &client.0, "disabled").await;
            return Err(AppError::new(ErrorCode::Unauthorized, "This account is disabled: ask an admin."));
        }
        self.succeeded(&username, client).await;
        let account = self
            .change(&username, move |a| {
                a.failed_sign_ins = 0;
                a.locked_until = None;
                a.last_sign_in = Some(now);
            })
            .await
            .map_err(AppError::from)?;
        self.audit_as(&username, "sign_in", Some(&username), &client.0, "ok").await;
        Ok(SignedIn {
            principal: Principal::account(account.username.clone(), account.role),
            session: SessionAuth {
                username: account.username,
                generation: account.generation,
                started_at: now.timestamp(),
            },
        })
    }

    async fn users(&self) -> Result<Vec<UserSummary>, AppError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .map(|a| UserSummary {
                username: a.username,
                role: a.role,
                enabled: a.enabled,
                locked_until: a.locked_until,
                created_at: a.created_at,
                last_sign_in: a.last_sign_in,
            })
            .collect())
    }

    async fn end_sessions(
        &self,
        admin: &Principal,
        username: &str,
        client: &ClientId,
    ) -> Result<(), AppError> {
        self.change(username, |a| a.generation += 1).await?;
        self.audit_as(admin.name(), "end_sessions", Some(username), &client.0, "ok").await;
        Ok(())
    }

    async fn set_enabled(
        &self,
        admin: &Principal,
        username: &str,
        enabled: bool,
        client: &ClientId,
    ) -> Result<(), AppError> {
        let own = match (admin.username.as_deref(), normalise_username(username)) {
            (Some(admin), Ok(name)) => normalise_username(admin).is_ok_and(|admin| admin == name),
            _ => false,
        };
        if !enabled && own {
            return Err(AppError::invalid_input("Admins cannot disable their own account."));
        }
        Ok(self.enable(username, enabled, admin.name(), &client.0).await?)
    }

    async fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, AppError> {
        Ok(self.store.audit(limit).await?)
    }

    async fn record(
        &self,
        actor: &Principal,
        action: &str,
        target: Option<&str>,
        client: &ClientId,
        outcome: &str,
    ) {
        self.audit_as(actor.name(), action, target, &client.0, outcome).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_normalised_and_bounded() {
        assert_eq!(normalise_username("  Ada.Lovelace ").unwrap(), "ada.lovelace");
        for bad in ["", "a b", "ädmin", "x'; DROP", &"a".repeat(65)] {
            assert!(normalise_username(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_need_twelve_characters_and_no_composition() {
        assert!(check_password_policy("short-pass1").is_err());
        assert!(check_password_policy("correct horse battery").is_ok());
        assert!(check_password_policy("aaaaaaaaaaaa").is_ok());
        assert!(check_password_policy(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        // Characters, not bytes: 12 accented letters are enough.
        assert!(check_password_policy(&"é".repeat(12)).is_ok());
    }

    #[test]
    fn waits_start_at_the_limit_and_double_up_to_fifteen_minutes() {
        let limits = SignInLimits { account_failures: 5, client_failures: 20, lock: Duration::from_secs(60) };
        assert_eq!(limits.pair_wait(4), None);
        assert_eq!(limits.pair_wait(5), Some(Duration::from_secs(60)));
        assert_eq!(limits.pair_wait(6), Some(Duration::from_secs(120)));
        assert_eq!(limits.pair_wait(100), Some(MAX_WAIT));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = Hasher::default();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse battery", &hash).await);
        assert!(!hasher.verify("correct horse batterY", &hash).await);
        assert!(!hasher.verify("anything", "not a hash").await);
        assert_ne!(hash, hasher.hash("correct horse battery").await.unwrap(), "salted");
    }
}
