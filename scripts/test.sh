#!/usr/bin/env bash
# Install everything the test suite needs and run it. This is the README's second command and
# what CI (.ci/run) calls. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: Debian's Chromium for the browser tests (Playwright drives it by path, since
# Playwright's own browser download cannot be reached), libfiu for disk-fault injection.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v fiu-run >/dev/null 2>&1 || need+=(fiu-utils)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: missing system packages (${need[*]}); install them with apt-get as root" >&2
  fi
fi

python3 -m venv .venv
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
exec .venv/bin/python -m pytest -q "$@"
