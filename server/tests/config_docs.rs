//! Every variable the server reads is documented where operators look for it, and nothing
//! documented is a variable the server does not read.

use server::config::{Config, VARIABLES};

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn every_variable_is_in_the_operations_guide_and_the_env_example() {
    let guide = read("docs/operations.md");
    let example = read(".env.example");
    for var in VARIABLES {
        assert!(
            guide.contains(&format!("| `{var}` |")),
            "{var} is missing from the reference in docs/operations.md"
        );
        assert!(example.contains(&format!("\n{var}=")), "{var} is missing from .env.example");
    }
}

/// `GRIDSCOPE_…` names in the docs and deployment files must be real: a renamed or removed
/// variable cannot linger in the documentation.
#[test]
fn no_document_names_a_variable_that_does_not_exist() {
    let files = [
        "README.md",
        "docs/operations.md",
        "docs/security.md",
        ".env.example",
        "Dockerfile",
        "deploy/compose.yaml",
        "deploy/gridscope.service",
        "deploy/neo4j-aura.md",
    ];
    // Names of the test and build tooling, not of the server.
    let tooling = |name: &str| name.starts_with("GRIDSCOPE_TEST_") || name == "GRIDSCOPE_ROOT";
    for file in files {
        let text = read(file);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("GRIDSCOPE_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            let name = name.trim_end_matches('_');
            if name == "GRIDSCOPE" {
                continue; // `GRIDSCOPE_*`: all of them
            }
            assert!(
                VARIABLES.contains(&name) || tooling(name),
                "{file} names {name}, which the server does not read"
            );
        }
    }
}

#[test]
fn the_env_example_holds_exactly_the_defaults() {
    let vars = read(".env.example")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    assert_eq!(vars.len(), VARIABLES.len(), "one line per variable");
    let config = Config::from_vars(vars).expect(".env.example must be a valid configuration");
    assert_eq!(config, Config::default(), ".env.example must show the defaults");
}
