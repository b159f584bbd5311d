# syntax=docker/dockerfile:1.7
# Warren's services, built from this repository (docker-compose.yml builds it for every service).
#
#   docker build --target dev -t warren:dev .   the toolchain and the source: cargo run, cargo test
#   docker build -t warren .                    production: every service binary on a small
#                                               distroless base, running as a non-root user
#
# The production image holds vote-service, tally-worker, user-service, locker-service,
# locker-app, record-service, warren-probe (its healthcheck) and warren-operator (user-service's
# one-shot maker of the first operator); a container runs one of them.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS dev
WORKDIR /warren
COPY . .
ENV WARREN_HTTP__HOST=0.0.0.0
CMD ["cargo", "run", "--bin", "vote-service"]

FROM dev AS build
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/warren/target \
    cargo build --release --locked --bins \
        -p vote-service -p tally-worker -p user-service -p locker-service -p locker-app \
        -p record-service -p warren-service-kit \
 && mkdir -p /out \
 && for binary in vote-service tally-worker user-service locker-service locker-app \
        record-service warren-probe warren-operator; do cp "target/release/$binary" /out/; done

FROM gcr.io/distroless/cc-debian12:nonroot AS production
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
ENV WARREN_HTTP__HOST=0.0.0.0 \
    WARREN_TELEMETRY__FORMAT=json
