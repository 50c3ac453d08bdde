# Gridscope: multi-stage image. Build stage: the same toolchain route as scripts/setup (wasm
# target, cargo-leptos, wasm-bindgen-cli matching Cargo.lock, wasm-opt). Runtime stage:
# debian-slim with only the binary, the built site and the demo grid, as an unprivileged user.
#   docker build -t gridscope .
#   docker run --rm -p 127.0.0.1:3000:3000 -v gridscope-data:/app/data gridscope
FROM rust:1-bookworm AS build
RUN rustup target add wasm32-unknown-unknown \
 && apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-leptos --version 0.3.11 --locked --features no_downloads \
 && npm install -g binaryen@132
WORKDIR /src
# The wasm-bindgen CLI must match the library version in Cargo.lock.
COPY Cargo.lock ./
RUN cargo install wasm-bindgen-cli --locked --version \
    "$(awk '/^name = "wasm-bindgen"$/{f=1;next} f&&/^version/{gsub(/"/,"",$3);print $3;exit}' Cargo.lock)"
COPY . .
RUN LEPTOS_OUTPUT_NAME=gridscope cargo leptos build --release --precompress --split \
 && strip target/release/gridscope

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app --shell /usr/sbin/nologin gridscope \
 && mkdir -p /app/data && chown gridscope /app/data
WORKDIR /app
COPY --from=build /src/target/release/gridscope /app/gridscope
# The content hashes of the bundle's file names: read from beside the binary.
COPY --from=build /src/target/release/hash.txt /app/hash.txt
COPY --from=build /src/target/site /app/site
COPY --from=build /src/data/grids/mv_oberrhein /app/grids/mv_oberrhein
USER 10001
ENV GRIDSCOPE_ADDR=0.0.0.0:3000 \
    GRIDSCOPE_SITE_ROOT=/app/site \
    GRIDSCOPE_DATA_DIR=/app/data \
    GRIDSCOPE_DEMO_GRID=/app/grids/mv_oberrhein \
    GRIDSCOPE_LOG_FORMAT=json
VOLUME ["/app/data"]
EXPOSE 3000
# No curl in the image: the binary checks its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/app/gridscope", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/gridscope"]
CMD ["serve"]
