#!/usr/bin/env bash
# Install everything the test suite needs and run it. This is the README's second command and
# what CI (.ci/run) calls. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: Debian's Chromium for the browser tests (Playwright drives it by path, since
# Playwright's own browser download cannot be reached), libfiu for disk-fault injection, and
# PostgreSQL (the suite's second pass runs on it; one test also starts a server of its own), and
# nats-server (JetStream) for the live-feed tests when no NATS server listens on 127.0.0.1:4222,
# and nginx, whose configuration check the deployment example must pass.
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v fiu-run >/dev/null 2>&1 || need+=(fiu-utils)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
nats_up || command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)  # the SQLite online backup the deployment guide uses
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)  # tests/test_deploy.py: `nginx -t` on deploy/nginx (never started)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)  # tests/test_deploy.py: `systemd-analyze verify` on deploy/systemd
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
# Compiled modules are kept, and pytest's rewritten test modules too: with PYTHONDONTWRITEBYTECODE set
# (as on some CI machines) every pytest process and every subprocess a test starts compiles
# everything again, and each of the eight pytest processes below rewrote every test module's
# asserts itself (~85 s of CPU each, a third of the suite's CPU on 2 cores). One collection made
# beside the checks below writes them once for all (.venv/collect.log).
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -m compileall -q -j 0 accord >/dev/null
.venv/bin/python -m pytest --collect-only -q -p no:cacheprovider > .venv/collect.log 2>&1 &
warm=$!
echo "ruff: pyflakes checks over accord/, bench/, tests/, scripts/ …"
.venv/bin/ruff check -q accord bench tests scripts
echo "mypy: type checks over accord/ (settings in pyproject.toml) …"
.venv/bin/mypy --no-error-summary
echo "import-linter: the layering contracts in .importlinter (docs/architecture.md) …"
if ! .venv/bin/lint-imports --no-cache --no-logo > .venv/lint-imports.log 2>&1; then
  cat .venv/lint-imports.log >&2; echo "error: an import breaks a layering contract (.importlinter)" >&2; exit 1
fi
wait "$warm" || { cat .venv/collect.log >&2; echo "error: the tests could not be collected (.venv/collect.log)" >&2; exit 1; }
# What runs where:
# - the first pass (above): every test, each node on SQLite; tests marked `postgresql` (a server
#   of their own: PostgreSQL restarted under load, backup/restore, failover to a replica) and
#   the store layer's two-back-end tests run on PostgreSQL there already;
# - the second pass (below): the tests that exercise a node's store through each part, again with
#   every node on PostgreSQL (ACCORD_TEST_STORE=postgresql: a schema of its own per node, dropped
#   after the test), so both back ends show the same behaviour. Tests of SQLite itself (its file,
#   WAL, PRAGMAs, dbstat, a database file copied as a backup) are marked sqlite_only and left
#   out; `postgresql` tests are not run twice. Chosen by what they exercise, to keep CI under
#   20 minutes. The two passes run side by side, the PostgreSQL pass in the background with its
#   output in .venv/pytest-postgresql.log, shown when it ends; each pass spreads its tests over
#   several pytest processes (pytest-xdist: ACCORD_TEST_WORKERS, default 5 for the first pass,
#   at most 3 for the second; 0 runs a pass in one process). The suite waits — on servers,
#   subprocesses, browsers and the clock — about as much as it computes, so eight processes keep
#   2 cores busy (three and two left a third of the time idle); ACCORD_TEST_CPU_LOG=FILE
#   (conftest.py) writes each test's CPU and wall seconds, to see what bounds a run. Every test
#   has its own temporary directory, port, schema, database and streams, so none collide:
#     store layer, ledger, verify         tests/store (layer, ledger, checkpointer), core merkle and
#                                         checkpoint, cli ledger, node verify
#     federation: in process, several     test_federation_inprocess, _multiprocess (ledger sequence,
#       processes, API, retention,        inbox idempotency, lease kill -9, --workers), tests/api/test_api_user.py,
#       partner removal, all-or-nothing   _retention, _rejections_retention, _partner_remove, _share_all_or_nothing
#       tree-head gossip, receipt proofs, _gossip, _gossip_hostile, _receipts, _receipts_served, _quota
#       intake quota
#     console: sessions (rows in the      tests/console/test_console_auth.py, _events, _boards, _picture,
#       store), the live stream, boards,  _intel_io, _cli, _partner_intel, _intel_board, _cost
#       picture, intel import/export
#     API: serving, metrics, auth first   tests/api/test_api_serve.py, _metrics, _metrics_workers, _auth_first
#     NATS: the event bridge across two   tests/feeds/test_feeds_events.py; the ingest's kill -9 (of
#       serve processes; the ingest state the ingest, of its alert process), alert-process restart
#                                         and duplicate-feed tests (its state commits with its items)
#     dialogue, intel (TAXII, sharing),   test_dialogue_store, _concurrency, _hostile_versions, tests/api/test_api_dialogue.py; test_intel_sharing,
#       alerts, TAK destinations          _taxii_errors, _taxii_client, _direct_lane, _import_export,
#                                         _import_skip_invalid, _store_schema, _taxii_owner; test_alerts_store;
#                                         tests/tak/test_tak_destination.py
#   Not in this pass (SQLite only): the console's browser tests, the exercise runs,
#   the tracker, warning and core tests — they reach the store only through the parts above.
echo "the store-touching tests on PostgreSQL (ACCORD_TEST_STORE=postgresql) start beside the first pass (log: .venv/pytest-postgresql.log) …"
workers="${ACCORD_TEST_WORKERS:-5}"
ACCORD_TEST_STORE=postgresql .venv/bin/python -m pytest -q -p no:cacheprovider -n "$(( workers < 3 ? workers : 3 ))" \
  --dist worksteal -m "not sqlite_only and not postgresql" "$@" \
  tests/store/test_store_layer.py tests/store/test_store_postgres_restart.py tests/store/test_store_ledger.py \
  tests/store/test_store_checkpointer.py tests/core/test_core_checkpoint.py tests/core/test_core_merkle.py \
  tests/core/test_core_merkle_vectors.py tests/cli/test_cli_ledger.py tests/node/test_node_verify.py \
  tests/federation/test_federation_inprocess.py tests/federation/test_federation_multiprocess.py \
  tests/api/test_api_user.py tests/federation/test_federation_retention.py \
  tests/federation/test_federation_rejections_retention.py \
  tests/federation/test_federation_partner_remove.py tests/federation/test_federation_share_all_or_nothing.py \
  tests/federation/test_federation_gossip.py tests/federation/test_federation_gossip_hostile.py \
  tests/federation/test_federation_head_check_removal.py \
  tests/federation/test_federation_receipts.py tests/federation/test_federation_receipt_bounds.py \
  tests/federation/test_federation_receipts_served.py \
  tests/federation/test_federation_quota.py tests/federation/test_federation_replay_renumber_bound.py \
  tests/federation/test_federation_receipt_evidence.py tests/federation/test_federation_future_dated_items.py \
  tests/federation/test_federation_refusal_off_loop.py tests/federation/test_federation_batch_cap.py \
  tests/federation/test_federation_anonymous_refusal.py tests/api/test_api_connection_limits.py \
  tests/console/test_console_auth.py tests/console/test_console_events.py \
  tests/console/test_console_boards.py tests/console/test_console_picture.py \
  tests/console/test_console_intel_io.py tests/console/test_console_cli.py \
  tests/console/test_console_partner_intel.py tests/console/test_console_intel_board.py \
  tests/console/test_console_cost.py \
  tests/api/test_api_serve.py tests/api/test_api_metrics.py tests/api/test_api_auth_first.py \
  tests/api/test_api_nul.py tests/node/test_node_config.py tests/node/test_node.py \
  tests/feeds/test_feeds_events.py \
  tests/feeds/test_feeds_ingest.py::test_kill_9_mid_feed_then_restart_loses_and_duplicates_nothing \
  tests/feeds/test_feeds_ingest.py::test_kill_9_of_the_alert_process_mid_feed_then_restart_loses_and_duplicates_nothing \
  tests/feeds/test_feeds_ingest.py::test_a_feed_published_twice_is_stored_once \
  tests/feeds/test_feeds_alert_restart.py \
  tests/dialogue/test_dialogue_store.py tests/api/test_api_dialogue.py tests/dialogue/test_dialogue_concurrency.py \
  tests/dialogue/test_dialogue_hostile_versions.py \
  tests/intel/test_intel_sharing.py tests/intel/test_intel_taxii_errors.py tests/intel/test_intel_direct_lane.py \
  tests/intel/test_intel_import_export.py tests/intel/test_intel_taxii_client.py \
  tests/intel/test_intel_import_skip_invalid.py tests/intel/test_intel_store_schema.py \
  tests/intel/test_intel_taxii_owner.py tests/api/test_api_metrics_workers.py \
  tests/intel/test_intel_taxii_add_bounds.py tests/intel/test_intel_paging_tokens.py tests/intel/test_intel_received_delete.py \
  tests/warning/alerts/test_alerts_store.py tests/tak/test_tak_destination.py \
  > .venv/pytest-postgresql.log 2>&1 &
pg_pass=$!
trap 'kill "$pg_pass" 2>/dev/null || true' EXIT
echo "the whole suite, every node on SQLite …"
sqlite_rc=0
.venv/bin/python -m pytest -q -n "$workers" --dist worksteal --durations=15 "$@" || sqlite_rc=$?  # the 15 slowest tests listed: what bounds CI
echo "waiting for the PostgreSQL pass …"
pg_rc=0
wait "$pg_pass" || pg_rc=$?
trap - EXIT
echo "the store-touching tests on PostgreSQL (ACCORD_TEST_STORE=postgresql):"
if [ "$pg_rc" -ne 0 ]; then cat .venv/pytest-postgresql.log; else tail -n 3 .venv/pytest-postgresql.log; fi
if [ "$sqlite_rc" -ne 0 ] || [ "$pg_rc" -ne 0 ]; then
  echo "error: tests failed (SQLite pass exit $sqlite_rc, PostgreSQL pass exit $pg_rc)" >&2
  exit 1
fi
