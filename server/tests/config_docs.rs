//! Every variable the server reads is documented where operators look for it.

use server::config::VARIABLES;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn every_variable_is_in_the_readme_and_env_example() {
    let readme = read("README.md");
    let example = read(".env.example");
    for var in VARIABLES {
        assert!(readme.contains(&format!("`{var}`")), "{var} is missing from README.md");
        assert!(example.contains(&format!("{var}=")), "{var} is missing from .env.example");
    }
}

#[test]
fn the_env_example_is_itself_a_valid_configuration() {
    let vars = read(".env.example")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    assert_eq!(vars.len(), VARIABLES.len(), "one line per variable");
    server::config::Config::from_vars(vars).expect(".env.example must be a valid configuration");
}
