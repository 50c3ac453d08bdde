# Starts the release server on a free loopback port with a fresh data folder and the demo
# grid, the shipped defaults otherwise (as the browser tests do), for the page benchmarks:
# sourced after env.sh; sets `base` (http://127.0.0.1:<port>) and stops the server on exit.
# Needs a release build: cargo leptos build --release --precompress --split

start_demo_server() {
  local bin="$GRIDSCOPE_ROOT/target/release/gridscope"
  [ -x "$bin" ] || die "no release build at $bin: run 'cargo leptos build --release --precompress --split' first"
  [ -f "$GRIDSCOPE_ROOT/target/site/pkg/$(bundle_file wasm).br" ] ||
    log "no precompressed files in target/site/pkg: the wasm goes out uncompressed (build with --precompress)"
  local port
  port=$(free_port)
  demo_data_dir=$(mktemp -d)
  GRIDSCOPE_ADDR="127.0.0.1:$port" GRIDSCOPE_SITE_ROOT="$GRIDSCOPE_ROOT/target/site" \
    GRIDSCOPE_DATA_DIR="$demo_data_dir" GRIDSCOPE_DEMO_GRID="$GRIDSCOPE_ROOT/data/grids/mv_oberrhein" \
    GRIDSCOPE_LOG_LEVEL=warn "$bin" serve >"$demo_data_dir/server.log" 2>&1 &
  demo_server_pid=$!
  trap 'kill "$demo_server_pid" 2>/dev/null; wait "$demo_server_pid" 2>/dev/null; rm -rf "$demo_data_dir"' EXIT
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "$base/readyz" >/dev/null || die "the server did not become ready (log: $demo_data_dir/server.log)"
}

# The public pages the page budgets hold for (visitors' pages; operators' pages are not budgeted).
PUBLIC_PAGES=(/ /map /assets /assets/line-12 /impact /n1 /maintenance /login)
