# Multi-stage build. No database is needed at build time: sqlx's query macros check the
# queries against the committed query data in .sqlx/ (SQLX_OFFLINE, also set by
# .cargo/config.toml), and the migrations are compiled into the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
ENV SQLX_OFFLINE=true
COPY rust-toolchain.toml Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY .sqlx ./.sqlx
COPY src ./src
COPY migrations ./migrations
COPY static ./static
COPY locales ./locales
COPY tests ./tests
RUN cargo build --release --locked --bin tonggan

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 tonggan
WORKDIR /app
COPY --from=build /src/target/release/tonggan /usr/local/bin/tonggan
COPY config ./config
USER tonggan
ENV APP_ENVIRONMENT=production
EXPOSE 8080
ENTRYPOINT ["tonggan"]
CMD ["serve"]
