# Shared by scripts/demo and scripts/test: a tools venv and the local servers.
# Source it; every function is idempotent.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"

# Make pyenv's interpreters visible as python3.11/3.12/3.13 (nox looks them up on PATH).
add_pyenv_pythons() {
  local dir
  for dir in "$HOME"/.pyenv/versions/3.1[1-9]*/bin; do
    [ -d "$dir" ] && PATH="$PATH:$dir"
  done
  export PATH
}

# Create .venv (once) and install the given pip requirements into it.
ensure_venv() {
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip uv
  fi
  if [ "$#" -gt 0 ]; then
    "$venv/bin/uv" pip install -q --python "$venv/bin/python" "$@"
  fi
}

# Install Debian packages that are missing (as root, or through sudo).
ensure_apt_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing ${missing[*]}..."
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

wait_for() {  # wait_for DESCRIPTION COMMAND...
  local what="$1"; shift
  for _ in $(seq 1 60); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "error: $what did not come up; start it by hand and retry" >&2
  return 1
}

ensure_postgresql() {
  command -v pg_isready >/dev/null || { echo "error: PostgreSQL client tools not found" >&2; return 1; }
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL..."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  fi
  wait_for "PostgreSQL on 127.0.0.1:5432" pg_isready -q -h 127.0.0.1 -p 5432
}

ensure_mariadb() {
  command -v mariadb-admin >/dev/null || { echo "error: MariaDB client tools not found" >&2; return 1; }
  if ! mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; then
    echo "starting MariaDB..."
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  fi
  wait_for "MariaDB on 127.0.0.1:3306" mariadb-admin -h 127.0.0.1 -P 3306 -u root ping
}
