# JekCMS tasks. `just` with no arguments lists them.

pg_url := env_var_or_default("JEKCMS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
redis_url := env_var_or_default("JEKCMS_TEST_REDIS_URL", "redis://127.0.0.1:6379")

# List the recipes
default:
    @just --list

# Run the server (SQLite ./jekcms.db unless JEKCMS_DATABASE_URL says otherwise)
run:
    cargo run --release

# Run all tests on SQLite
test:
    cargo test --workspace

# Run all tests on SQLite and PostgreSQL, with the Redis tests
test-pg:
    JEKCMS_TEST_POSTGRES_URL={{pg_url}} JEKCMS_TEST_REDIS_URL={{redis_url}} cargo test --workspace

# Everything CI runs
ci:
    bash .ci/run

# Regenerate the committed OpenAPI document
openapi:
    cargo run -q -p jekcms-server -- openapi > openapi/openapi.json

# Lint openapi/openapi.json with Redocly CLI's recommended rules: 0 errors, 0 warnings (pinned, .ci/redocly)
openapi-lint:
    scripts/openapi-lint.sh

# Generate a Python client from openapi/openapi.json and drive a real server with it (pinned, own venv)
generated-client:
    scripts/generated-client.sh

# Drive /mcp with the official MCP Python SDK (pinned, own venv)
mcp-python:
    scripts/mcp-python.sh

# Two real server instances on one PostgreSQL, Redis and S3 bucket (moto): what one does holds on the other at once
cluster:
    JEKCMS_TEST_POSTGRES_URL={{pg_url}} JEKCMS_TEST_REDIS_URL={{redis_url}} scripts/cluster.sh

# Prove that no domain crate depends on actix and only the store on diesel
check-layers:
    scripts/check-layers.sh

# Format and lint
lint:
    cargo fmt --all
    cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks: criterion micro-benchmarks, then HTTP load on both stores (see docs/performance.md)
bench:
    scripts/bench.sh

# Instructions per list request with rate limits on and off (needs a seeded database)
limiter-cost:
    JEKCMS_DATABASE_URL=sqlite://bench-out/sqlite/bench.db scripts/limiter-cost.sh

# Media through the local directory vs S3 (moto): 10 MB upload/download times, memory during a 100 MB upload
bench-media:
    scripts/bench-media.sh

# Time jekcms-cli: export of 100,000 seeded posts, import of 10,000 into a fresh server (SQLite)
bench-cli:
    scripts/bench-cli.sh

# Fill a database with the benchmark dataset (N posts)
seed posts="100000":
    cargo run --release -- seed --posts {{posts}}

# Instructions per list request against the store's list query (needs a seeded database)
request-cost:
    JEKCMS_DATABASE_URL=sqlite://bench-out/sqlite/bench.db scripts/request-cost.sh

# The same on PostgreSQL, on a database of its own seeded with POSTS posts (dropped after)
request-cost-pg posts="100000":
    #!/usr/bin/env bash
    set -euo pipefail
    admin='{{pg_url}}'; db="${admin%/*}/jekcms_request_cost"
    psql -q "$admin" -c "DROP DATABASE IF EXISTS jekcms_request_cost WITH (FORCE)" -c "CREATE DATABASE jekcms_request_cost"
    trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS jekcms_request_cost WITH (FORCE)"' EXIT
    cargo build -q --release -p jekcms-server
    JEKCMS_DATABASE_URL="$db" "${CARGO_TARGET_DIR:-target}/release/jekcms" seed --posts {{posts}}
    psql -q "$db" -c "VACUUM ANALYZE"
    JEKCMS_DATABASE_URL="$db" scripts/request-cost.sh

# Schemathesis against the served OpenAPI document on SQLite and PostgreSQL (pinned, own venv)
schemathesis:
    JEKCMS_TEST_POSTGRES_URL={{pg_url}} scripts/schemathesis.sh

# Run every cargo-fuzz target for SECONDS each from the kept corpus (needs nightly and cargo-fuzz)
fuzz seconds="60":
    scripts/fuzz.sh {{seconds}}
