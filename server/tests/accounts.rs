//! Accounts, sessions and roles against a real server: cookie flags, a new session id at
//! sign-in, idle and absolute timeouts, sign-out and admin-ended sessions, the role of every
//! server function, lockout after failed sign-ins, and the audit log.

mod common;

use std::time::Duration;

use app::api::auth::{Principal, Role};
use common::{client, session_cookie, TestServer};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn the_session_cookie_is_host_only_http_only_secure_and_strict() {
    let server = TestServer::start(&[]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let response = server.post("/api/login", &[("username", "olga"), ("password", PASSWORD)], None).await;
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("__Host-gridscope="), "{set_cookie}");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=1800"] {
        assert!(set_cookie.contains(flag), "{flag} missing: {set_cookie}");
    }
    assert!(!set_cookie.to_ascii_lowercase().contains("domain="), "{set_cookie}");
    let principal: Principal = response.json().await.unwrap();
    assert_eq!(principal, Principal::account("olga", Role::Operator));
}

#[tokio::test]
async fn only_plain_http_development_on_loopback_may_drop_secure() {
    let refused = server::config::Config::from_vars([
        ("GRIDSCOPE_COOKIE_SECURE".to_owned(), "false".to_owned()),
        ("GRIDSCOPE_ADDR".to_owned(), "0.0.0.0:3000".to_owned()),
    ]);
    assert!(refused.unwrap_err().to_string().contains("GRIDSCOPE_COOKIE_SECURE"));

    let server = TestServer::start(&[("GRIDSCOPE_COOKIE_SECURE", "false")]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let response = server.post("/api/login", &[("username", "olga"), ("password", PASSWORD)], None).await;
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.starts_with("gridscope_session="), "no __Host- prefix without Secure: {set_cookie}");
    assert!(
        !set_cookie.contains("Secure")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict")
    );
}

#[tokio::test]
async fn signing_in_issues_a_new_session_id_and_drops_the_old_one() {
    let server = TestServer::start(&[]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    server.add_user("adam", Role::Admin, PASSWORD).await;
    let first = server.sign_in("olga", PASSWORD).await;
    // Signing in again while holding a session (e.g. one planted by an attacker).
    let response =
        server.post("/api/login", &[("username", "adam"), ("password", PASSWORD)], Some(&first)).await;
    assert_eq!(response.status(), 200);
    let second = session_cookie(&response).expect("a new cookie");
    assert_ne!(first, second);
    assert_eq!(server.whoami(Some(&first)).await, Principal::viewer(), "the old id is worthless");
    assert_eq!(server.whoami(Some(&second)).await, Principal::account("adam", Role::Admin));
}

#[tokio::test]
async fn an_unused_session_ends_after_the_idle_timeout_and_a_used_one_does_not() {
    let server = TestServer::start(&[("GRIDSCOPE_SESSION_IDLE_SECONDS", "3")]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let used = server.sign_in("olga", PASSWORD).await;
    let idle = server.sign_in("olga", PASSWORD).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(server.whoami(Some(&used)).await.role, Role::Operator, "kept alive by use");
    }
    assert_eq!(server.whoami(Some(&idle)).await, Principal::viewer(), "idle for 5 s > 3 s");
}

#[tokio::test]
async fn a_session_ends_at_the_absolute_timeout_however_much_it_is_used() {
    let server = TestServer::start(&[
        ("GRIDSCOPE_SESSION_IDLE_SECONDS", "60"),
        ("GRIDSCOPE_SESSION_MAX_SECONDS", "3"),
    ])
    .await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let cookie = server.sign_in("olga", PASSWORD).await;
    assert_eq!(server.whoami(Some(&cookie)).await.role, Role::Operator);
    let mut ended = false;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if server.whoami(Some(&cookie)).await == Principal::viewer() {
            ended = true;
            break;
        }
    }
    assert!(ended, "still signed in after the absolute timeout");
}

#[tokio::test]
async fn signing_out_deletes_the_session_on_the_server() {
    let server = TestServer::start(&[]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let cookie = server.sign_in("olga", PASSWORD).await;
    let response = server.post("/api/logout", &[], Some(&cookie)).await;
    assert_eq!(response.status(), 200);
    let removal = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        removal.contains("Max-Age=0") || removal.contains("1970") || removal.contains("2000"),
        "{removal}"
    );
    // Replaying the old cookie (as a thief would) gets nothing.
    assert_eq!(server.whoami(Some(&cookie)).await, Principal::viewer());
}

#[tokio::test]
async fn an_admin_can_end_every_session_of_an_account_and_disable_it() {
    let server = TestServer::start(&[]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    server.add_user("adam", Role::Admin, PASSWORD).await;
    let phone = server.sign_in("olga", PASSWORD).await;
    let laptop = server.sign_in("olga", PASSWORD).await;
    let admin = server.sign_in("adam", PASSWORD).await;
    assert_eq!(server.post("/api/end_sessions", &[("username", "olga")], Some(&admin)).await.status(), 200);
    assert_eq!(server.whoami(Some(&phone)).await, Principal::viewer());
    assert_eq!(server.whoami(Some(&laptop)).await, Principal::viewer());
    assert_eq!(server.whoami(Some(&admin)).await.role, Role::Admin, "the admin's own session stays");

    // Disabled: signed out and cannot sign in.
    let again = server.sign_in("olga", PASSWORD).await;
    let disable = server
        .post("/api/set_user_enabled", &[("username", "olga"), ("enabled", "false")], Some(&admin))
        .await;
    assert_eq!(disable.status(), 200);
    assert_eq!(server.whoami(Some(&again)).await, Principal::viewer());
    let refused = server.post("/api/login", &[("username", "olga"), ("password", PASSWORD)], None).await;
    assert_eq!(refused.status(), 401);
    let own = server
        .post("/api/set_user_enabled", &[("username", "adam"), ("enabled", "false")], Some(&admin))
        .await;
    assert_eq!(own.status(), 400, "admins cannot lock themselves out");

    let audit = server.accounts.store().audit(50).await.unwrap();
    let actions: Vec<(&str, &str, Option<&str>)> =
        audit.iter().map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_deref())).collect();
    assert!(actions.contains(&("adam", "end_sessions", Some("olga"))), "{actions:?}");
    assert!(actions.contains(&("adam", "disable_user", Some("olga"))), "{actions:?}");
    assert!(
        audit.iter().all(|e| e.client == "127.0.0.1" || e.client == "cli" || e.actor == "test"),
        "{audit:?}"
    );
}

/// The least role each server function needs. Every registered server function must be here.
const ACCESS: &[(&str, Role)] = &[
    ("/api/whoami", Role::Viewer),
    ("/api/login", Role::Viewer),
    ("/api/logout", Role::Viewer),
    ("/api/set_theme", Role::Viewer),
    ("/api/service_status", Role::Viewer),
    ("/api/grid_summary", Role::Viewer),
    ("/api/overview_kpis", Role::Viewer),
    ("/api/overview_cards", Role::Viewer),
    ("/api/assets", Role::Viewer),
    ("/api/asset", Role::Viewer),
    ("/api/map", Role::Viewer),
    ("/api/n1", Role::Viewer),
    ("/api/impact", Role::Viewer),
    ("/api/maintenance_plan", Role::Viewer),
    ("/api/live_conditions", Role::Viewer),
    ("/api/analyst_ask", Role::Operator),
    ("/api/ops_status", Role::Operator),
    ("/api/users", Role::Admin),
    ("/api/end_sessions", Role::Admin),
    ("/api/set_user_enabled", Role::Admin),
    ("/api/audit_log", Role::Admin),
];

#[tokio::test]
async fn every_server_function_checks_the_callers_role_on_the_server() {
    let registered: std::collections::BTreeSet<&str> =
        leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path).collect();
    let listed: std::collections::BTreeSet<&str> = ACCESS.iter().map(|(path, _)| *path).collect();
    assert_eq!(registered, listed, "the access table must list every server function");

    // A fresh session for every call: sign-in and sign-out end the session they are called with.
    let server = TestServer::start(&[("GRIDSCOPE_RATE_LOGIN_PER_MINUTE", "1000")]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    server.add_user("adam", Role::Admin, PASSWORD).await;
    server.add_user("victim", Role::Operator, PASSWORD).await;
    for (path, needed) in ACCESS {
        for role in [Role::Viewer, Role::Operator, Role::Admin] {
            let cookie = match role {
                Role::Viewer => None,
                Role::Operator => Some(server.sign_in("olga", PASSWORD).await),
                Role::Admin => Some(server.sign_in("adam", PASSWORD).await),
            };
            let form: Vec<(&str, &str)> = match *path {
                "/api/login" => vec![("username", "victim"), ("password", PASSWORD)],
                "/api/end_sessions" => vec![("username", "victim")],
                "/api/set_user_enabled" => vec![("username", "victim"), ("enabled", "true")],
                "/api/analyst_ask" => vec![("question", "Which assets are at highest risk?")],
                "/api/set_theme" => vec![("theme", "dark")],
                _ => vec![],
            };
            let status = server.post(path, &form, cookie.as_deref()).await.status().as_u16();
            let role = &role;
            if role >= needed {
                assert!(status != 401 && status != 403, "{path} refused a {role:?}: {status}");
            } else if *role == Role::Viewer {
                assert_eq!(status, 401, "{path} as a viewer");
            } else {
                assert_eq!(status, 403, "{path} as a {role:?}");
            }
        }
    }
}

/// Sign-ins through a trusted proxy from the given client address.
async fn login_from(server: &TestServer, address: &str, name: &str, password: &str) -> reqwest::Response {
    client()
        .post(server.url("/api/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("x-forwarded-for", address)
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("username", name), ("password", password)])
                .finish(),
        )
        .send()
        .await
        .unwrap()
}

/// M3 (issue 28): failures throttle one name from one address, never the account everywhere.
/// Before, three wrong passwords from anywhere locked the account for everyone, the right
/// password included, and each later failure doubled the lock up to a day.
#[tokio::test]
async fn repeated_failures_slow_that_name_from_that_address_only() {
    let server = TestServer::start(&[
        ("GRIDSCOPE_LOGIN_MAX_FAILURES", "3"),
        ("GRIDSCOPE_LOGIN_LOCK_SECONDS", "60"),
        // The guesser and the owner are told apart by address, as behind a real proxy.
        ("GRIDSCOPE_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let guesser = "203.0.113.7";
    for _ in 0..3 {
        let wrong = login_from(&server, guesser, "olga", "not the password").await;
        assert_eq!(wrong.status(), 401);
        let body: serde_json::Value = wrong.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
    }
    // From the guesser's address, even the right password now waits.
    let throttled = login_from(&server, guesser, "olga", PASSWORD).await;
    assert_eq!(throttled.status(), 429);
    let retry: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((50..=60).contains(&retry), "{retry}");
    assert!(throttled.headers().get("set-cookie").is_none());
    // The owner, elsewhere, signs in at once.
    let owner = login_from(&server, "198.51.100.20", "olga", PASSWORD).await;
    assert_eq!(owner.status(), 200, "the owner is not locked out by someone else's guesses");

    let audit = server.accounts.store().audit(20).await.unwrap();
    let outcomes: Vec<&str> =
        audit.iter().filter(|e| e.action == "sign_in").map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["ok", "throttled", "bad_password_throttled", "bad_password", "bad_password"]);
    let account = server.accounts.store().account("olga").await.unwrap().unwrap();
    assert!(account.locked_until.is_none(), "no account lock");

    // A new password from an admin (the CLI) lifts the guesser's address's wait too.
    server.accounts.set_password("olga", "another long passphrase", "test").await.unwrap();
    assert_eq!(login_from(&server, guesser, "olga", "another long passphrase").await.status(), 200);
}

/// M2 (issue 28): an unknown name answers exactly as a real one: 401 for each wrong password,
/// then 429 with the same wait. Before, a real account answered 429 after five failures (in
/// about 2 ms) while an unknown name kept answering 401 (in about 25 ms).
#[tokio::test]
async fn unknown_names_answer_like_real_ones() {
    let server = TestServer::start(&[("GRIDSCOPE_LOGIN_MAX_FAILURES", "3")]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let mut answers = Vec::new();
    for name in ["olga", "nobody-here"] {
        let mut seen = Vec::new();
        for _ in 0..5 {
            let response = server
                .post("/api/login", &[("username", name), ("password", "not the password")], None)
                .await;
            let status = response.status().as_u16();
            let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = response.json().await.unwrap();
            seen.push((status, body["code"].clone(), body["message"].clone(), retry));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1], "a real name and an unknown one are told apart");
    assert_eq!(answers[0].iter().map(|a| a.0).collect::<Vec<_>>(), [401, 401, 401, 429, 429]);
}

/// M3 (issue 28): an address with many failures (a guesser behind a shared address) is
/// limited to the names that signed in from it before: its own operators keep working, a
/// success clears the count, and new names wait. Before, it locked everyone behind it out.
#[tokio::test]
async fn an_address_with_many_failures_keeps_its_own_operators() {
    let server = TestServer::start(&[("GRIDSCOPE_LOGIN_CLIENT_MAX_FAILURES", "4")]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    server.add_user("hana", Role::Operator, PASSWORD).await;
    server.sign_in("olga", PASSWORD).await;
    for i in 0..4 {
        let name = format!("guess{i}");
        let response =
            server.post("/api/login", &[("username", &name), ("password", "not the password")], None).await;
        assert_eq!(response.status(), 401);
    }
    // Hana never signed in from here: she waits, like any name the guesser tries next.
    let refused = server.post("/api/login", &[("username", "hana"), ("password", PASSWORD)], None).await;
    assert_eq!(refused.status(), 429, "a new name from an address over its limit waits");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert!(body["retry_after_seconds"].as_u64().unwrap() > 0);
    // Olga signed in from here before: she still can, and her success clears the count.
    server.sign_in("olga", PASSWORD).await;
    server.sign_in("hana", PASSWORD).await;
}

/// L8 (issue 28): an admin cannot disable their own account by writing their name in
/// another case (`ADA` passed the guard before).
#[tokio::test]
async fn an_admin_cannot_disable_themselves_in_another_case() {
    let server = TestServer::start(&[]).await;
    server.add_user("ada", Role::Admin, PASSWORD).await;
    let cookie = server.sign_in("ada", PASSWORD).await;
    for name in ["ADA", " Ada "] {
        let response = server
            .post("/api/set_user_enabled", &[("username", name), ("enabled", "false")], Some(&cookie))
            .await;
        assert_eq!(response.status(), 400, "{name}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "invalid_input");
    }
    assert!(server.accounts.store().account("ada").await.unwrap().unwrap().enabled);
}

#[tokio::test]
async fn accounts_live_in_the_store_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = server::config::Config { data_dir: dir.path().to_path_buf(), ..Default::default() };
    let accounts = server::auth::Accounts::new(
        server::commands::open_accounts(&config).unwrap(),
        server::auth::SignInLimits::from_config(&config),
    );
    accounts.add("Olga", Role::Admin, PASSWORD, "cli").await.unwrap();
    assert!(matches!(
        accounts.add("olga", Role::Operator, PASSWORD, "cli").await,
        Err(server::auth::AccountError::Exists(_))
    ));
    assert!(matches!(
        accounts.add("bob", Role::Operator, "too short", "cli").await,
        Err(server::auth::AccountError::Invalid(_))
    ));
    drop(accounts);
    let reopened = server::commands::open_accounts(&config).unwrap();
    let olga = reopened.account("olga").await.unwrap().expect("kept");
    assert_eq!(olga.role, Role::Admin);
    assert!(olga.password_hash.starts_with("$argon2id$"));
    assert!(!format!("{olga:?}").contains("argon2"), "Debug never shows the hash");
    assert!(reopened.account("bob").await.unwrap().is_none());
}

/// Signed-in requests take the account as read for at most `ACCOUNT_RECHECK`: a change made
/// in this process counts at once, one made by another process (the CLI here) within it.
#[tokio::test]
async fn an_account_changed_by_the_cli_counts_within_the_recheck_time() {
    let server = TestServer::start(&[]).await;
    server.add_user("olga", Role::Operator, PASSWORD).await;
    let cookie = server.sign_in("olga", PASSWORD).await;
    assert_eq!(server.whoami(Some(&cookie)).await.role, Role::Operator);
    let disabled = std::process::Command::new(env!("CARGO_BIN_EXE_gridscope"))
        .args(["user", "disable", "olga"])
        .env("GRIDSCOPE_DATA_DIR", server.dir.path().join("data"))
        .env("GRIDSCOPE_DEMO_GRID", "none")
        .output()
        .unwrap();
    assert!(disabled.status.success(), "{disabled:?}");
    let changed = std::time::Instant::now();
    while server.whoami(Some(&cookie)).await != Principal::viewer() {
        assert!(
            changed.elapsed() < server::auth::ACCOUNT_RECHECK + std::time::Duration::from_millis(500),
            "the disabled account still counts after {:?}",
            changed.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
