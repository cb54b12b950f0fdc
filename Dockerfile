# Multi-stage build: the API and the TikTok sandbox from one builder.
#   docker build --target api -t postiqo-api .
#   docker build --target sandbox -t postiqo-tiktok-sandbox .
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p postiqo-api -p postiqo-tiktok-sandbox \
    && mkdir -p /out && cp target/release/postiqo-api target/release/tiktok-sandbox /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 postiqo
USER postiqo

FROM runtime AS sandbox
COPY --from=builder /out/tiktok-sandbox /usr/local/bin/tiktok-sandbox
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/tiktok-sandbox"]

FROM runtime AS api
COPY --from=builder /out/postiqo-api /usr/local/bin/postiqo-api
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fs http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/postiqo-api"]
CMD ["serve"]
