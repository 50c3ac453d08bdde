# Shared environment for Gridscope's scripts: sourced, never run.
#
# Picks the Rust toolchain that can build WebAssembly on this machine and puts the
# project's tools on PATH. Two routes (docs/toolchain.md in ../shared explains why):
#   - rustup: the default toolchain has the wasm32-unknown-unknown target installed;
#   - debian: Debian's rustc 1.96 (`/usr/bin/rustc`) with a wasm32 std built from source.
# Everything in the project must be compiled by the same compiler, so once the Debian
# route is chosen RUSTC and RUSTDOC point at it for every cargo call.

GRIDSCOPE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GRIDSCOPE_TOOLS="${GRIDSCOPE_TOOLS:-$HOME/.local/share/gridscope-tools}"
DEBIAN_WASM_STD_DIR=/usr/lib/rustlib/wasm32-unknown-unknown/lib
# The throwaway Python venv of the grid converter (scripts/py/requirements.txt).
PYENV="$GRIDSCOPE_TOOLS/pyenv"
export GRIDSCOPE_ROOT GRIDSCOPE_TOOLS PYENV

case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$HOME/.cargo/bin:$PATH" ;; esac
PATH="$GRIDSCOPE_TOOLS/node_modules/.bin:$PATH"
export PATH

rustup_has_wasm32() {
  command -v rustup >/dev/null 2>&1 &&
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}

debian_has_wasm32() {
  compgen -G "$DEBIAN_WASM_STD_DIR/libstd-*.rlib" >/dev/null 2>&1
}

# Sets RUSTC/RUSTDOC for the Debian route; leaves rustup alone when it can build wasm.
select_toolchain() {
  if rustup_has_wasm32; then
    GRIDSCOPE_TOOLCHAIN=rustup
  elif debian_has_wasm32 && [ -x /usr/bin/rustc ]; then
    GRIDSCOPE_TOOLCHAIN=debian
    export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
  else
    GRIDSCOPE_TOOLCHAIN=none
  fi
  export GRIDSCOPE_TOOLCHAIN
}

# Version of a package as resolved in Cargo.lock (first match).
locked_version() {
  awk -v name="$1" '
    $0 == "name = \"" name "\"" { found = 1; next }
    found && /^version = / { gsub(/"/, "", $3); print $3; exit }
  ' "$GRIDSCOPE_ROOT/Cargo.lock"
}

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

log() { printf '[gridscope] %s\n' "$*" >&2; }
die() { printf '[gridscope] error: %s\n' "$*" >&2; exit 1; }

select_toolchain

# cargo-leptos sets this while building; setting it for every cargo call keeps crates that
# read it at compile time from being rebuilt between `cargo test` and `cargo leptos build`.
export LEPTOS_OUTPUT_NAME=gridscope

# The release bundle's file name of a kind (js, wasm, css): content-hashed when the build wrote
# target/release/hash.txt (hash-files in Cargo.toml), else plain.
bundle_file() {
  local hash=""
  [ -f "$GRIDSCOPE_ROOT/target/release/hash.txt" ] &&
    hash=$(awk -v k="$1" -F': *' '$1 == k { print $2 }' "$GRIDSCOPE_ROOT/target/release/hash.txt")
  if [ -n "$hash" ]; then echo "gridscope.$hash.$1"; else echo "gridscope.$1"; fi
}
