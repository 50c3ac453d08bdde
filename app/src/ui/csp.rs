//! The Content-Security-Policy: pages may run only the scripts the server marked with this
//! response's nonce (and what those load: `strict-dynamic`), compile WebAssembly, and talk to
//! their own origin; nothing may frame them, change their base URL or embed plugins.

/// The policy for an HTML page whose inline and module scripts carry `nonce`.
pub fn page_policy(nonce: &str) -> String {
    policy_with_scripts(&format!("'nonce-{nonce}'"))
}

/// The nonce a [`page_policy`] names, if it names one.
pub fn nonce_in(policy: &str) -> Option<&str> {
    policy.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).filter(|n| !n.is_empty())
}

/// The policy for a page served to many from a cache, which carries no nonce: exactly the
/// inline scripts with these SHA-256 hashes (base64) may run.
pub fn hashed_page_policy(sha256: &[String]) -> String {
    let sources: Vec<String> = sha256.iter().map(|h| format!("'sha256-{h}'")).collect();
    policy_with_scripts(&sources.join(" "))
}

fn policy_with_scripts(sources: &str) -> String {
    format!(
        "default-src 'self'; script-src {sources} 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
         manifest-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
         form-action 'self'"
    )
}

/// The policy for every other response (data, files, errors): nothing runs, nothing frames it.
pub const OTHER_POLICY: &str =
    "default-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_allows_only_nonced_scripts_and_forbids_framing() {
        let policy = page_policy("abc123");
        assert!(policy.contains("script-src 'nonce-abc123' 'strict-dynamic' 'wasm-unsafe-eval'"));
        assert!(!policy.contains("unsafe-inline"));
        for directive in ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{directive} missing from {policy}");
        }
    }

    #[test]
    fn the_nonce_is_read_back_from_the_policy() {
        assert_eq!(nonce_in(&page_policy("abc123")), Some("abc123"));
        assert_eq!(nonce_in(OTHER_POLICY), None);
        assert_eq!(nonce_in(&hashed_page_policy(&["aGFzaA==".to_owned()])), None);
    }

    #[test]
    fn a_cached_page_s_policy_names_each_script_hash_and_no_nonce() {
        let policy = hashed_page_policy(&["aGFzaDE=".to_owned(), "aGFzaDI=".to_owned()]);
        assert!(
            policy.contains("script-src 'sha256-aGFzaDE=' 'sha256-aGFzaDI=' 'strict-dynamic'"),
            "{policy}"
        );
        assert!(!policy.contains("nonce") && !policy.contains("unsafe-inline"), "{policy}");
    }
}
