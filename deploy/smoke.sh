#!/usr/bin/env bash
# Smoke-test panelbot's image on a machine with a container engine (Docker with the compose plugin, or
# Podman with podman-compose as `podman compose`): build, compose up on PostgreSQL 16, wait for /readyz,
# run the demo and a referral against the running stack, check /metrics, backup, a clean stop, compose down.
#
#   deploy/smoke.sh                      # docker
#   CONTAINER_ENGINE=podman deploy/smoke.sh
#
# Uses its own compose project (panelbot-smoke) and a throwaway env file; your .env is not read.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${CONTAINER_ENGINE:-docker}
if ! command -v "$engine" > /dev/null; then
  echo "smoke: no '$engine' here; run this on a machine with a container engine (or set CONTAINER_ENGINE)" >&2
  exit 2
fi
port=${SMOKE_PORT:-13978}
work=$(mktemp -d)
env_file="$work/smoke.env"
cat > "$env_file" <<ENV
POSTGRES_PASSWORD=smoke-$RANDOM$RANDOM
PANELBOT_PORT=$port
PANELBOT_METRICS_TOKEN=smoke-metrics-token
PANELBOT_LINK_KEY=smoke-link-key-smoke-link-key-smoke-link-key
PANELBOT_LOG_FORMAT=json
ENV
compose() { "$engine" compose --project-name panelbot-smoke --env-file "$env_file" "$@"; }
step() { printf '\n== smoke: %s\n' "$*"; }
cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    step "FAILED ($status): the last logs"
    compose logs --no-color --tail 80 || true
  fi
  compose down --volumes --remove-orphans > /dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

step "build the image"
compose build

step "start PostgreSQL, migrate (one-shot), serve"
compose up --detach
compose ps --all

step "wait for /readyz"
ready=""
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$port/readyz" > "$work/ready.json" 2> /dev/null; then ready=yes; break; fi
  sleep 2
done
cat "$work/ready.json" 2> /dev/null || true
[ -n "$ready" ] || { echo "smoke: /readyz never answered 200" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/livez"

step "the migration ran as its own service and exited 0"
migrate_id=$(compose ps --all --quiet migrate)
[ "$("$engine" inspect --format '{{.State.ExitCode}}' "$migrate_id")" = 0 ]

step "the image runs as a non-root user"
[ "$(compose exec -T panelbot id -u)" != 0 ]

step "the demo scenario in the image"
compose exec -T panelbot panelbot demo > "$work/demo.txt"
grep -q "TSCP-2026-001" "$work/demo.txt"

step "a referral against the running stack (PostgreSQL), then one tick"
ref=$(compose exec -T panelbot panelbot referral add --referrer-name "Smoke Test" \
  --summary "Smoke test referral: no personal details at all." | tr -d '\r' | tail -n 1)
echo "registered $ref"
compose exec -T panelbot panelbot tick
compose exec -T panelbot panelbot case show "$ref" | tee "$work/case.txt"
grep -q "screening" "$work/case.txt"

step "/metrics needs the token, and shows the case store"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
[ "$code" = 401 ] || { echo "smoke: /metrics without a token answered $code" >&2; exit 1; }
curl -fsS -H "Authorization: Bearer smoke-metrics-token" "http://127.0.0.1:$port/metrics" > "$work/metrics.txt"
grep -q '^panelbot_outbox_messages{' "$work/metrics.txt"
grep -q '^panelbot_http_request_duration_seconds_count{' "$work/metrics.txt"

step "JSON logs, with no secret in them"
compose logs --no-color panelbot > "$work/logs.txt"
grep -q '"event": "http.request"' "$work/logs.txt"
if grep -q "smoke-metrics-token\|smoke-link-key" "$work/logs.txt"; then
  echo "smoke: a secret is in the logs" >&2
  exit 1
fi

step "backup: panelbot names the pg_dump command; the postgres container runs it"
compose exec -T panelbot panelbot backup /tmp/panelbot.dump || true
compose exec -T postgres pg_dump --username panelbot --format custom panelbot > "$work/panelbot.dump"
[ -s "$work/panelbot.dump" ]

step "SIGTERM: serve stops cleanly within 10 s"
compose stop --timeout 15 panelbot
serve_id=$(compose ps --all --quiet panelbot)
[ "$("$engine" inspect --format '{{.State.ExitCode}}' "$serve_id")" = 0 ]
compose logs --no-color panelbot | grep -q '"event": "shutdown.done"'

step "OK: the image builds, migrates, serves, reports and stops as the README says"
