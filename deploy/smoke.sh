#!/usr/bin/env bash
# Builds and runs the Dockerfile and compose.yaml against whatever Docker this machine has, and
# prints what it measured: image size, build time (without cache), time to healthy, drain times.
# Not run by CI (CI has no Docker). Needs docker, Compose (v2 `docker compose` or v1
# `docker-compose`), openssl, curl, git and GNU date, and host port 8080 free (compose.yaml
# publishes it).
#
# It works on a copy of this checkout (tracked and untracked files, not ignored ones) in a
# temporary directory, with a throwaway App id, RSA key and webhook secret in that copy's .env,
# so a real .env is never read or overwritten. It posts a signed `ping` (no call to GitHub) and
# a signed `push`, whose calls go to GITHUB_API_URL=http://127.0.0.1:9, where nothing listens in
# the container: refused at once, retried for about 15 s, so the push is still running when the
# stop begins and the drain can be seen. Everything it starts is removed at the end (compose
# project "wheelwatch-smoke", its volume included, and the image wheelwatch:smoke).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
project=wheelwatch-smoke
web_alone=wheelwatch-smoke-web

if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
else
    echo "smoke: no Docker Compose found" >&2
    exit 2
fi
compose+=(-p "$project" -f "$work/compose.yaml")

cleanup() {
    docker rm -f "$web_alone" >/dev/null 2>&1 || true
    "${compose[@]}" down -v --rmi local --remove-orphans >/dev/null 2>&1 || true
    docker rmi wheelwatch:smoke >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
at() { date -d "$1" +%s.%N; }
step() { printf '\n== %s\n' "$*"; }
fail() {
    echo "smoke: FAILED: $*" >&2
    exit 1
}

if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
    fail "port 8080 is in use; compose.yaml publishes it"
fi

(cd "$repo" && git ls-files -z -co --exclude-standard) | while IFS= read -r -d '' path; do
    if [ -e "$repo/$path" ]; then
        mkdir -p "$work/$(dirname "$path")"
        cp -p "$repo/$path" "$work/$path"
    fi
done
openssl genrsa -out "$work/smoke.pem" 2048 2>/dev/null
secret=$(openssl rand -hex 20)
{
    echo "GITHUB_APP_ID=1"
    printf 'GITHUB_PRIVATE_KEY=%s\n' "$(awk 'BEGIN { ORS = "\\n" } 1' "$work/smoke.pem")"
    echo "GITHUB_WEBHOOK_SECRET=$secret"
    echo "GITHUB_API_URL=http://127.0.0.1:9"
} >"$work/.env"
chmod 600 "$work/.env"
rm "$work/smoke.pem"

wait_healthy() { # container, seconds
    local deadline=$((SECONDS + $2)) status
    while [ $SECONDS -lt "$deadline" ]; do
        status=$(docker inspect -f '{{.State.Health.Status}}' "$1")
        [ "$status" = healthy ] && return 0
        sleep 1
    done
    fail "$1 is not healthy after $2 s (last: $status)"
}

ping='{"zen":"Smoke test.","hook_id":1,"hook":{"type":"App","id":1}}'
push='{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000",
"after":"1111111111111111111111111111111111111111","created":false,"deleted":false,
"forced":false,"repository":{"id":1,"name":"r","full_name":"o/r","owner":{"login":"o"},
"default_branch":"main","private":false,"fork":false},"installation":{"id":1}}'

post() { # url, event, delivery id, body -> HTTP status
    local signature
    signature=$(printf '%s' "$4" | openssl dgst -sha256 -hmac "$secret" | awk '{ print $NF }')
    curl -s -o /dev/null -w '%{http_code}' -X POST "$1" \
        -H 'Content-Type: application/json' -H "X-GitHub-Event: $2" \
        -H "X-GitHub-Delivery: $3" -H "X-Hub-Signature-256: sha256=$signature" \
        --data-binary "$4"
}

wait_log() { # pattern, command...: until the command's output matches, 30 s at most
    local pattern=$1
    shift
    local out
    for _ in $(seq 30); do
        out=$("$@" 2>&1)
        grep -q -- "$pattern" <<<"$out" && return 0
        sleep 1
    done
    fail "no log line matches '$pattern'"
}

step "1. docker build"
start=$(now)
docker build --no-cache -q -t wheelwatch:smoke "$work" >/dev/null
echo "build: $(since "$start") s; image: $(docker image inspect -f '{{.Size}}' wheelwatch:smoke |
    awk '{ printf "%.0f MB", $1 / 1e6 }')"
echo "user: $(docker image inspect -f '{{.Config.User}}' wheelwatch:smoke)"
echo "/app: $(docker run --rm wheelwatch:smoke ls -A /app | tr '\n' ' ')"
strays=$(docker run --rm wheelwatch:smoke \
    find /app -name tests -o -name bench -o -name .env -o -name '*.pem' -o -name build)
[ -z "$strays" ] || fail "found in /app: $strays"

step "1. docker run (the embedded mode)"
docker run -d --name "$web_alone" --env-file "$work/.env" -p 127.0.0.1::8080 \
    --stop-timeout 30 wheelwatch:smoke >/dev/null
started=$(at "$(docker inspect -f '{{.State.StartedAt}}' "$web_alone")")
port=$(docker port "$web_alone" 8080/tcp | head -n 1 | sed 's/.*://')
echo "uid in the container: $(docker exec "$web_alone" id -u)"
[ "$(docker exec "$web_alone" id -u)" != 0 ] || fail "the container runs as root"
wait_healthy "$web_alone" 90
echo "healthy $(since "$started") s after its start"
echo "signed ping: HTTP $(post "http://127.0.0.1:$port/webhook" ping smoke-alone-1 "$ping")"
echo "signed push: HTTP $(post "http://127.0.0.1:$port/webhook" push smoke-alone-2 "$push")"
wait_log 'smoke-alone-2.*failed' docker logs "$web_alone"
start=$(now)
docker stop "$web_alone" >/dev/null
echo "docker stop (the push in flight): $(since "$start") s," \
    "exit code $(docker inspect -f '{{.State.ExitCode}}' "$web_alone")"
docker logs "$web_alone" 2>&1 | grep -E 'draining|drained' || true

step "2. compose up (web, worker, Redis)"
start=$(now)
"${compose[@]}" up -d --build >/dev/null 2>&1 || fail "compose up (run it by hand to see why)"
web=$("${compose[@]}" ps -q web)
wait_healthy "$web" 120
echo "web healthy $(since "$start") s after compose up"
status=$(post http://127.0.0.1:8080/webhook ping smoke-compose-1 "$ping")
echo "signed ping to the published port: HTTP $status"
[ "$status" = 202 ] || fail "expected 202"
wait_log 'smoke-compose-1.*processed' "${compose[@]}" logs --no-color worker
"${compose[@]}" logs --no-color worker 2>&1 | grep 'smoke-compose-1'

step "2. --scale worker=2, a push in flight, then stop (SIGTERM; grace periods: compose.yaml)"
"${compose[@]}" up -d --scale worker=2 >/dev/null 2>&1
[ "$("${compose[@]}" ps -q worker | wc -l)" -eq 2 ] || fail "not 2 workers"
echo "signed push: HTTP $(post http://127.0.0.1:8080/webhook push smoke-compose-2 "$push")"
wait_log 'smoke-compose-2.*failed' "${compose[@]}" logs --no-color worker
containers=$("${compose[@]}" ps -q)
start=$(now)
"${compose[@]}" stop >/dev/null 2>&1
echo "compose stop (the push in flight): $(since "$start") s"
for id in $containers; do
    docker inspect -f '{{.Name}} {{.State.ExitCode}} {{.State.FinishedAt}}' "$id" |
        while read -r name code finished; do
            awk -v n="$name" -v c="$code" -v a="$start" -v b="$(at "$finished")" \
                'BEGIN { printf "  %s: exit %s, %.1f s after the stop began\n", n, c, b - a }'
        done
done
"${compose[@]}" logs --no-color worker 2>&1 | grep -E 'shutdown on SIGTERM' || fail "no worker logged SIGTERM"

step "2. down and up again: Redis keeps its data (append-only file in the volume)"
"${compose[@]}" down >/dev/null 2>&1
"${compose[@]}" up -d >/dev/null 2>&1
redis=$("${compose[@]}" ps -q redis)
wait_healthy "$redis" 60
kept=$(docker exec "$redis" redis-cli exists wheelwatch:delivery:smoke-compose-1)
echo "delivery id smoke-compose-1 still in Redis: $kept"
[ "$kept" = 1 ] || fail "Redis lost its data"

step "2. Redis restarts: a worker processes what comes next"
worker=$("${compose[@]}" ps -q worker)
before=$(docker inspect -f '{{.RestartCount}}' "$worker")
docker restart "$redis" >/dev/null
wait_healthy "$redis" 60
echo "signed ping: HTTP $(post http://127.0.0.1:8080/webhook ping smoke-compose-3 "$ping")"
wait_log 'smoke-compose-3.*processed' "${compose[@]}" logs --no-color worker
echo "processed; the worker's restarts: $before -> $(docker inspect -f '{{.RestartCount}}' "$worker")"

step "passed"
