#!/usr/bin/env bash
# One command from a fresh clone (Debian, root): installs what is missing, then runs the whole benchmark.
#   bash bench/run.sh                      # full run, writes bench/results/latest.md
#   bash bench/run.sh --requests 5000      # quicker, noisier
#   bash bench/run.sh --skip-litellm       # any other flag goes to bench/run.py (see --help; --skip-portkey)
#   bash bench/run.sh leak                 # the leak check instead (bench/leak_check.py)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

log() { printf '>> %s\n' "$*" >&2; }

child=""
cleanup() {
    # bench/run.py kills its own servers on exit; this only catches it if it is still around.
    if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$child" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. system tools
missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if (( $(nproc) < 2 )); then
    log "warning: $(nproc) core(s); the pinning (servers on core 0, load generator on core 1) needs 2"
fi

# 2. the project venv (with the "fast" extra when pyproject.toml still has one; aiohttp is needed either way)
target=.
if grep -Eq '^fast *= *\[' pyproject.toml; then target='.[fast]'; fi
if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q -e "$target"
fi
if ! .venv/bin/python -c 'import bifrost_asgi, aiohttp, uvicorn, starlette' >/dev/null 2>&1; then
    log "installing the project into .venv"
    .venv/bin/pip install -q -e "$target" aiohttp || log "pip install failed; the gateway rows may not run"
fi
if [[ ! -x .venv/bin/bifrost-asgi ]] && [[ -f bifrost_asgi/cli.py || -f bifrost_asgi/__main__.py ]]; then
    # an older editable install may predate the console script
    .venv/bin/pip install -q --no-deps -e . >/dev/null 2>&1 || true
fi

# 3. LiteLLM's proxy in its own venv (optional column)
LITE=bench/.litellm-venv
if [[ "$*" != *--skip-litellm* && "${1:-}" != leak ]] && [[ ! -x $LITE/bin/litellm ]]; then
    log "installing litellm[proxy] into $LITE (one time, a few minutes)"
    if ! { python3 -m venv "$LITE" && "$LITE/bin/pip" install -q 'litellm[proxy]'; } >bench/.litellm-install.log 2>&1; then
        log "LiteLLM install failed, continuing without the LiteLLM column. Last lines:"
        tail -n 15 bench/.litellm-install.log >&2 || true
    fi
fi

# 4. Portkey's open-source gateway (Node) in its own folder (optional row). Its @hono/node-server is held
# at 1.13.8: later versions keep a fetch() answer's immutable headers in the Response they rebuild, and
# Portkey's updateHeaders() then fails every stream with HTTP 500 "Something went wrong" (Portkey-AI/
# gateway#1389, open; plain requests fail from 1.14.3, streams with 1.14.2 as well).
PORTKEY=bench/.portkey
HONO_NODE_SERVER=1.13.8
portkey_ready() {
    [[ -f $PORTKEY/node_modules/@portkey-ai/gateway/build/start-server.js ]] &&
        grep -q "\"version\": \"$HONO_NODE_SERVER\"" "$PORTKEY/node_modules/@hono/node-server/package.json" 2>/dev/null
}
if [[ "$*" != *--skip-portkey* && "${1:-}" != leak ]] && ! portkey_ready; then
    if command -v npm >/dev/null 2>&1; then
        log "installing @portkey-ai/gateway into $PORTKEY (one time)"
        mkdir -p "$PORTKEY"
        printf '{\n  "dependencies": {"@portkey-ai/gateway": "^1.15.2"},\n  "overrides": {"@hono/node-server": "%s"}\n}\n' \
            "$HONO_NODE_SERVER" >"$PORTKEY/package.json"
        if ! npm install --prefix "$PORTKEY" --no-audit --no-fund >bench/.portkey-install.log 2>&1; then
            log "Portkey install failed, continuing without the Portkey row. Last lines:"
            tail -n 15 bench/.portkey-install.log >&2 || true
        fi
    else
        log "npm not found: no Portkey row (apt-get install nodejs npm to add it)"
    fi
fi

# 5. run
script=bench/run.py
if [[ "${1:-}" == leak ]]; then
    shift
    script=bench/leak_check.py
fi
.venv/bin/python "$script" "$@" &
child=$!
set +e
wait "$child"
rc=$?
set -e
child=""
exit "$rc"
