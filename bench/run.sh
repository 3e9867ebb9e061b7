#!/usr/bin/env bash
# Load benchmark, one command: installs what is missing, then runs bench/run.py.
#
#   bench/run.sh                          # full run (~8 min), writes docs/benchmarks.md
#   BENCH_DURATION=3 BENCH_WARMUP=1 bench/run.sh --docs none      # quick look
#   bench/run.sh --targets direct,bastion --scenarios plain-c32   # a subset
#
# Needs root (or the packages already installed): nginx with the echo module, wrk and
# taskset from Debian; LiteLLM's proxy goes into its own virtualenv, bench/.venv-litellm.
# See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION="${BENCH_LITELLM_VERSION:-1.108.7}"
VENV=bench/.venv-litellm
PY="${PYTHON:-python3}"
mkdir -p bench/results
SETUP_LOG=bench/results/setup.log
: >"$SETUP_LOG"

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] || need+=(libnginx-mod-http-echo)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
"$PY" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "bench: missing ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "bench: installing ${need[*]} (apt)" >&2
  # Keep the nginx package from starting a system-wide nginx on port 80: we run our own.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq >>"$SETUP_LOG" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    >>"$SETUP_LOG" 2>&1 || { tail -n 30 "$SETUP_LOG" >&2; exit 1; }
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

# Bastion itself: the project's package, installed editable if it is not importable yet.
if ! command -v bastion >/dev/null 2>&1 && ! "$PY" -c 'import bastion' 2>/dev/null; then
  echo "bench: installing bastion (pip install -e .)" >&2
  "$PY" -m pip install -q -e . >>"$SETUP_LOG" 2>&1 || { tail -n 30 "$SETUP_LOG" >&2; exit 1; }
fi

# LiteLLM's proxy, the comparison target, in its own virtualenv (never a project dependency);
# not needed when --targets leaves it out.
targets=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --targets) targets="${args[i + 1]:-}" ;;
    --targets=*) targets="${args[i]#--targets=}" ;;
  esac
done
if [[ -n "$targets" && ",$targets," != *",litellm,"* ]]; then
  :  # no LiteLLM in this run
elif ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$LITELLM_VERSION')" 2>/dev/null; then
  echo "bench: installing litellm[proxy]==$LITELLM_VERSION into $VENV (a minute or two)" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION" >>"$SETUP_LOG" 2>&1 \
    || { tail -n 30 "$SETUP_LOG" >&2; exit 1; }
fi

# py-spy for --profile / BENCH_PROFILE, in a tools virtualenv of its own.
if [[ " $* " == *" --profile"* || "${BENCH_PROFILE:-0}" != 0 ]] && [ ! -x bench/.venv-tools/bin/py-spy ]; then
  echo "bench: installing py-spy into bench/.venv-tools" >&2
  "$PY" -m venv bench/.venv-tools
  bench/.venv-tools/bin/pip install -q py-spy >>"$SETUP_LOG" 2>&1 || { tail -n 30 "$SETUP_LOG" >&2; exit 1; }
fi

export BENCH_COMMAND="bench/run.sh${*:+ $*}"
exec "$PY" bench/run.py "$@"
