#!/usr/bin/env bash
# Install everything the test suite needs and run it. This is the README's second command and
# what CI (.ci/run) calls. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: Debian's Chromium for the browser tests (Playwright drives it by path, since
# Playwright's own browser download cannot be reached), libfiu for disk-fault injection, and
# nats-server (JetStream) for the live-feed tests when no NATS server listens on 127.0.0.1:4222.
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v fiu-run >/dev/null 2>&1 || need+=(fiu-utils)
nats_up || command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: missing system packages (${need[*]}); install them with apt-get as root" >&2
  fi
fi

python3 -m venv .venv
if ! nats_up && command -v nats-server >/dev/null 2>&1; then
  # left running for later runs; its streams live under .venv/nats (tests name and delete their own)
  mkdir -p .venv/nats
  echo "starting nats-server with JetStream on 127.0.0.1:4222 (log: .venv/nats/server.log) …"
  nohup nats-server -js -a 127.0.0.1 -p 4222 --store_dir "$PWD/.venv/nats" > .venv/nats/server.log 2>&1 &
  for _ in $(seq 50); do nats_up && break; sleep 0.2; done
  nats_up || echo "warning: nats-server did not start (see .venv/nats/server.log); the tests/feeds tests will fail" >&2
fi
install() {  # pip's output goes to .venv/install.log and is shown only if the install fails
  if ! .venv/bin/python -m pip install "$@" >> .venv/install.log 2>&1; then
    cat .venv/install.log >&2; echo "error: pip install $* failed (log: .venv/install.log)" >&2; exit 1
  fi
}
echo "installing Accord and its test tools into .venv (log: .venv/install.log) …"
install -q --upgrade pip
install -q -e '.[test]'
.venv/bin/python -c 'import accord' # fail loudly if the install did not work
echo "ruff: pyflakes checks over accord/, bench/, tests/, scripts/ …"
.venv/bin/ruff check -q accord bench tests scripts
echo "mypy: type checks over accord/ (settings in pyproject.toml) …"
.venv/bin/mypy --no-error-summary
exec .venv/bin/python -m pytest -q "$@"
