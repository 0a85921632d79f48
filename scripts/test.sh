#!/usr/bin/env bash
# Install everything the test suite needs and run it. This is the README's second command and
# what CI (.ci/run) calls. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: Debian's Chromium for the browser tests (Playwright drives it by path, since
# Playwright's own browser download cannot be reached), libfiu for disk-fault injection, and
# PostgreSQL (the suite's second pass runs on it; one test also starts a server of its own), and
# nats-server (JetStream) for the live-feed tests when no NATS server listens on 127.0.0.1:4222.
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v fiu-run >/dev/null 2>&1 || need+=(fiu-utils)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
nats_up || command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: missing system packages (${need[*]}); install them with apt-get as root" >&2
  fi
fi

# PostgreSQL at 127.0.0.1:5432 with trust for user postgres on loopback and a database `test`
# (ACCORD_TEST_PG names another). Started here when it is not running; when it cannot be, the
# PostgreSQL tests fail and say why (they never skip).
if [ -z "${ACCORD_TEST_PG:-}" ] && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && [ "$(id -u)" = 0 ]; then
  echo "starting PostgreSQL (Debian's cluster) …"
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  [ -d "/etc/postgresql/$version/main" ] || pg_createcluster "$version" main >/dev/null
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" || sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  pg_ctlcluster "$version" main start 2>/dev/null || pg_ctlcluster "$version" main reload
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if [ -z "${ACCORD_TEST_PG:-}" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || createdb -h 127.0.0.1 -U postgres test
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
echo "import-linter: the layering contracts in .importlinter (docs/architecture.md) …"
if ! .venv/bin/lint-imports --no-cache --no-logo > .venv/lint-imports.log 2>&1; then
  cat .venv/lint-imports.log >&2; echo "error: an import breaks a layering contract (.importlinter)" >&2; exit 1
fi
.venv/bin/python -m pytest -q "$@"
# The store-touching tests again, every node on PostgreSQL (a schema of its own per node):
# the same behaviour on both back ends. Tests of SQLite itself are marked sqlite_only.
echo "the store-touching tests again on PostgreSQL (ACCORD_TEST_STORE=postgresql) …"
ACCORD_TEST_STORE=postgresql exec .venv/bin/python -m pytest -q -m "not sqlite_only" "$@" \
  tests/store/test_store_layer.py tests/store/test_store_postgres_restart.py tests/store/test_store_ledger.py \
  tests/store/test_store_checkpointer.py tests/core/test_core_checkpoint.py tests/core/test_core_merkle.py \
  tests/core/test_core_merkle_vectors.py tests/cli/test_cli_ledger.py tests/node/test_node_verify.py \
  tests/federation/test_federation_inprocess.py tests/dialogue/test_dialogue_store.py \
  tests/intel/test_intel_sharing.py tests/intel/test_intel_taxii_errors.py tests/warning/alerts/test_alerts_store.py
