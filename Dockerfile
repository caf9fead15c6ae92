# syntax=docker/dockerfile:1
# pmf-scheduler: the agent as a volume-backed service beside Diego and Miguel (see docker-compose.yml and the README).
#
# Three stages. `build` compiles the TypeScript; `deps` is a clean install of the production dependencies only, where
# the better-sqlite3 native module is compiled (prebuild-install downloads a prebuilt binary when it can, else
# node-gyp builds it with python3, make and g++). The runtime stage copies those two results and nothing else: no
# compiler, no dev dependency, no source. A separate clean `npm ci --omit=dev` rather than pruning the build stage's
# node_modules means the runtime tree is exactly what the lock file says production needs (nothing left behind by dev
# tools' install scripts), and BuildKit runs the two stages in parallel. CI builds this file and runs the image
# (scripts/image-check.sh); test/packaging/docker-files.test.ts checks the properties below.
#
# The image must stay on a supported Node LTS; CI runs the whole test suite on this major (scripts/test-node24.sh
# reads it from the runtime stage's FROM line).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# tsc needs no native module: skipping install scripts avoids compiling better-sqlite3 here, and keeps dev tools
# (deno, esbuild) from fetching binaries of their own.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
COPY migrations/ migrations/
# kysely as one bundle in dist/node_modules: Node 20+ then loads it in ~25 ms instead of ~170 ms per command.
COPY scripts/bundle-kysely.mjs scripts/
RUN npm run build && chmod +x dist/src/cli.js

FROM node:24-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:24-bookworm-slim AS runtime
# tini as PID 1 forwards SIGTERM to the agent (which then drains for SHUTDOWN_GRACE_MS) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
# "type": "module" in package.json is what makes Node load dist/ as ES modules.
COPY package.json ./
# The data directory belongs to the runtime user before VOLUME, so a new named volume starts out writable by it.
RUN ln -s /app/dist/src/cli.js /usr/local/bin/pmf-scheduler \
 && mkdir -p /app/data \
 && chown node:node /app/data

# The documented defaults (README, Configuration), except the database, which lives in the volume, and the settings
# that are unset by default: DIEGO_TOKEN, ALERT_WEBHOOK_URL, HEALTHCHECK_PING_URL and TELEGRAM_BOT_TOKEN are secrets, never baked into an
# image (pass them at run time); METRICS_FILE, when set, must point into /app/data; NTP_SERVER, CLOCK_SKEW_MAX_MS and
# EXCHANGE_TIME_URL are off, and so are the guard rails (docs/guards.md); MAX_LATENESS_MS unset is half the gap to
# the next slot. CRON_PATTERN, TIMEFRAMES and TIMEFRAME are unset by default (each job fires at its candle's close, 1m
# without TIMEFRAMES): an ENV here would be "set in the environment", so CRON_PATTERN would override every candle and
# TIMEFRAME would clash with a TIMEFRAMES given at run time. SQLITE_TMPDIR sends SQLite's temporary files (large
# sorts) to the volume too, so a read-only root filesystem needs no tmpfs.
ENV NODE_ENV=production \
    DATABASE_URL=/app/data/pmf-scheduler.db \
    SQLITE_TMPDIR=/app/data \
    DIEGO_URL=http://diego:3001 \
    ENABLE_SCHEDULER=true \
    RETRY_ATTEMPTS=3 \
    RETRY_DELAY_MS=5000 \
    RUN_ON_START=true \
    SYMBOLS=BTC/USDT \
    CANDLE_OFFSET_MS=0 \
    TRIGGER_EXECUTION=true \
    DIEGO_TIMEOUT_MS=20000 \
    MIGUEL_URL=http://miguel:3002 \
    WAIT_FOR_READY=true \
    READY_TIMEOUT_MS=0 \
    STATS_INTERVAL_MS=600000 \
    SHUTDOWN_GRACE_MS=8000 \
    MAX_RESPONSE_BYTES=1048576 \
    HISTORY_RETENTION_DAYS=90 \
    LOG_FORMAT=pretty \
    LOG_LEVEL=info \
    ALERT_AFTER_FAILURES=3 \
    TELEGRAM_API_URL=https://api.telegram.org \
    EXCHANGE_STATUS_INTERVAL_MS=30000 \
    EXCHANGE_STATUS_FIELD=/status \
    EXCHANGE_STATUS_OK=0 \
    EXCHANGE_STATUS_FAIL_CLOSED=false \
    CLOCK_CHECK_INTERVAL_MS=600000 \
    CLOCK_SKEW_WARN_MS=250 \
    EXCHANGE_TIME_FIELD=/serverTime \
    FIRE_CLOCK=local

# The official image's unprivileged user (uid 1000). Only /app/data is ever written.
USER node
VOLUME /app/data

# The agent listens on no port: the health check reads the heartbeat the running agent keeps in the database.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["pmf-scheduler", "healthcheck"]

ENTRYPOINT ["/usr/bin/tini", "--", "pmf-scheduler"]
CMD ["run"]
