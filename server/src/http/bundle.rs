//! The browser bundle's file names. A release build (`hash-files = true` in the workspace
//! metadata) names the JS, wasm, CSS and split chunks after their content and lists the hashes
//! in `hash.txt` beside the server binary, where Leptos looks for them; those files are cached
//! by browsers for a year ([`super::security::is_hashed_asset`]). Without that file (a debug
//! build, the tests) the plain names are used.

use std::path::{Path, PathBuf};

/// The hash list's name, as cargo-leptos writes it and Leptos reads it.
pub const HASH_FILE: &str = "hash.txt";
/// The bundle's base name (`output-name`).
pub const OUTPUT_NAME: &str = "gridscope";

/// The hash list beside the running binary, if the build wrote one.
pub fn hash_file() -> Option<PathBuf> {
    hash_file_in(std::env::current_exe().ok()?.parent()?)
}

/// The hash list in `dir` (a binary's folder), if there is one.
pub fn hash_file_in(dir: &Path) -> Option<PathBuf> {
    let path = dir.join(HASH_FILE);
    path.is_file().then_some(path)
}

/// The names of the JS, wasm and CSS files under `pkg/` that the running binary serves,
/// hashed when the build hashed them.
pub fn bundle_files() -> [String; 3] {
    let dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf));
    bundle_files_for(dir.as_deref().unwrap_or(Path::new(".")))
}

/// The same for the binary in `dir` (tests that start the built binary).
pub fn bundle_files_for(dir: &Path) -> [String; 3] {
    let hashes = hash_file_in(dir).and_then(|path| std::fs::read_to_string(path).ok()).unwrap_or_default();
    names(&hashes)
}

/// The file names from a `hash.txt` (`js: <hash>` lines; empty for plain names).
fn names(hashes: &str) -> [String; 3] {
    ["js", "wasm", "css"].map(|kind| {
        let hash = hashes
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim() == kind)
            .map(|(_, hash)| hash.trim())
            .filter(|hash| !hash.is_empty());
        match hash {
            Some(hash) => format!("{OUTPUT_NAME}.{hash}.{kind}"),
            None => format!("{OUTPUT_NAME}.{kind}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_hash_list_and_fall_back_to_plain_names() {
        let hashes = "js: aaaaaaaaaaaaaaaaaaaaaa\nwasm: bbbbbbbbbbbbbbbbbbbbbb\ncss: cccccccccccccccccccccc\nmanifest: x\n";
        assert_eq!(
            names(hashes),
            [
                "gridscope.aaaaaaaaaaaaaaaaaaaaaa.js",
                "gridscope.bbbbbbbbbbbbbbbbbbbbbb.wasm",
                "gridscope.cccccccccccccccccccccc.css"
            ]
        );
        assert_eq!(names(""), ["gridscope.js", "gridscope.wasm", "gridscope.css"]);
    }
}
