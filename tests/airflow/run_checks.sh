#!/usr/bin/env bash
# Real-Airflow checks of dags/ and of the cron fallback documented in docs/airflow.md.
#
#   bash tests/airflow/run_checks.sh
#
# Needs: the llmlb binary (LLMLB_BIN, default build/cli/llmlb), PostgreSQL running (.ci/setup) with
# superuser access through `su postgres` (root) or `sudo -u postgres`, the project venv (.venv, for
# the simulated backend), python3 (3.11) for the Airflow venv.  Airflow is installed from
# tests/airflow/constraints.txt into .ci/.cache/airflow-venv (reused while it matches).
#
# Everything it creates is its own: a temp dir (AIRFLOW_HOME, SQLite metadata DB, DAG folder), a
# PostgreSQL role with a random password and a fresh database (both dropped at the end), two
# simulated backends on 127.0.0.1.  Processes are tracked and stopped by PID only.
# The last check runs the DAG under a real scheduler (tests/airflow/sched_check.py: LocalExecutor,
# PostgreSQL metadata DB, its own databases and processes; 2.5 minutes).
# Prints "airflow-checks: N passed, M failed" last; exits non-zero if anything failed.
# LLMLB_AIRFLOW_KEEP=1 keeps the temp dir (it is also kept when a check failed).
# LLMLB_AIRFLOW_VENV=DIR runs the checks with the Airflow installed in DIR, as is (no install):
# e.g. a venv with apache-airflow 2.10 to check the Airflow 2 import fallback.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/tests/airflow"
cd "$root"

PY=${PYTHON:-python3}
AF_VENV=${LLMLB_AIRFLOW_VENV:-$root/.ci/.cache/airflow-venv}
REAL_LLMLB=${LLMLB_BIN:-$root/build/cli/llmlb}
SIM_PY=${LLMLB_SIM_PYTHON:-$root/.venv/bin/python}
CONSTRAINTS="$here/constraints.txt"
PIP_VERSION=26.3
DOC="$root/docs/airflow.md"

passed=0
failed=0
t_start=$SECONDS
log() { printf '[airflow-checks %3ds] %s\n' $((SECONDS - t_start)) "$*"; }
summary() { echo "airflow-checks: $passed passed, $failed failed"; }

# ---------------------------------------------------------------------------------------------
# Cleanup: only what this script started or created.
work=""
backend_pids=()
pg_db=""
pg_role=""
cleanup() {
  local pid
  for pid in "${backend_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  if [ -n "$work" ]; then
    for pid in $(cat "$work/llmlb.pids.all" "$work/llmlb.pids" 2>/dev/null); do
      if llmlb_alive "$pid"; then
        log "cleanup: llmlb pid $pid still running; SIGTERM, then SIGKILL after 5s"
        kill -TERM "$pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do llmlb_alive "$pid" || break; sleep 0.5; done
        llmlb_alive "$pid" && kill -KILL "$pid" 2>/dev/null
      fi
    done
  fi
  if [ -n "$pg_db" ]; then
    as_pg "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || log "cleanup: could not drop database $pg_db"
  fi
  if [ -n "$pg_role" ]; then
    as_pg "DROP ROLE IF EXISTS $pg_role" >/dev/null 2>&1 || log "cleanup: could not drop role $pg_role"
  fi
  if [ -n "$work" ] && [ -d "$work" ]; then
    if [ "$failed" -gt 0 ] || [ "${LLMLB_AIRFLOW_KEEP:-0}" = 1 ]; then
      log "kept $work (logs of every step are in $work/logs)"
    else
      rm -rf "$work"
    fi
  fi
}
on_exit() { local rc=$?; cleanup; summary; exit "$rc"; }
trap on_exit EXIT
trap 'log "interrupted"; failed=$((failed + 1)); exit 130' INT TERM

setup_failed() {
  log "SETUP FAILED: $*"
  failed=$((failed + 1))
  exit 1
}

# llmlb_alive PID: true if PID is a live llmlb process (the pid files may hold reused PIDs later).
llmlb_alive() {
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q llmlb
}

# run_check NAME FUNCTION: counts and times one check; a check prints why it failed.
run_check() {
  local name=$1 fn=$2 t0=$SECONDS
  log "check: $name"
  if "$fn"; then
    passed=$((passed + 1)); log "PASS: $name ($((SECONDS - t0))s)"
  else
    failed=$((failed + 1)); log "FAIL: $name ($((SECONDS - t0))s)"
  fi
}

# ---------------------------------------------------------------------------------------------
# Airflow venv (cached; rebuilt when constraints.txt changed).
ensure_airflow_venv() {
  local stamp="$AF_VENV/.llmlb-constraints.txt"
  if [ -n "${LLMLB_AIRFLOW_VENV:-}" ]; then  # a venv of your own (e.g. another Airflow version): as is
    [ -x "$AF_VENV/bin/airflow" ] || { echo "no $AF_VENV/bin/airflow"; return 1; }
    log "using the given Airflow venv $AF_VENV"
    return 0
  fi
  if [ -x "$AF_VENV/bin/airflow" ] && cmp -s "$CONSTRAINTS" "$stamp"; then
    log "reusing Airflow venv $AF_VENV"
    return 0
  fi
  log "installing Airflow into $AF_VENV from $(basename "$CONSTRAINTS") (first run: a minute or two)"
  rm -rf "$AF_VENV"
  "$PY" -m venv "$AF_VENV" || return 1
  local pip=("$AF_VENV/bin/pip" install -q --disable-pip-version-check)
  # A current pip installs the ~130 pinned packages about twice as fast as the one venv ships.
  # constraints.txt pins every package of the environment, so no resolution is needed (--no-deps).
  { "${pip[@]}" "pip==$PIP_VERSION" && "${pip[@]}" --no-deps -r "$CONSTRAINTS" && "$AF_VENV/bin/pip" check; } \
    >"$AF_VENV.install.log" 2>&1 || { tail -20 "$AF_VENV.install.log"; return 1; }
  cp "$CONSTRAINTS" "$stamp"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL: a role with a random password and a fresh database, both ours.
pg_port=${PGPORT:-$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $3}')}
pg_port=${pg_port:-5432}
as_pg() {  # as_pg SQL: run SQL as the postgres superuser
  if [ "$(id -u)" = 0 ]; then
    su postgres -c "psql -qAtX -v ON_ERROR_STOP=1 -p $pg_port -d postgres" <<<"$1"
  else
    sudo -n -u postgres psql -qAtX -v ON_ERROR_STOP=1 -p "$pg_port" -d postgres <<<"$1"
  fi
}
sql() {  # sql QUERY: run QUERY in the check database as the check role
  PGPASSWORD="$pg_pass" psql -qAtX -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U "$pg_role" -d "$pg_db" -c "$1"
}
llmlb_admin() {  # the real binary, for setup (migrate, limits)
  PGPASSWORD="$pg_pass" PGHOST=127.0.0.1 PGPORT="$pg_port" PGUSER="$pg_role" PGDATABASE="$pg_db" \
    "$REAL_LLMLB" "$@"
}
# counts PREFIX -> "total solved leased" of the tasks whose prompt starts with PREFIX
counts() {
  sql "SELECT count(*), count(*) FILTER (WHERE status = 'solved'),
              count(*) FILTER (WHERE lease_token IS NOT NULL)
       FROM tasks WHERE prompt LIKE '$1%'" | tr '|' ' '
}
insert_tasks() {  # insert_tasks PREFIX N
  sql "INSERT INTO tasks(prompt) SELECT '$1' || g || ': say something about ' || g FROM generate_series(1, $2) g" >/dev/null
}

# start_backend NAME ARGS...: starts the simulated backend, sets backend_url
start_backend() {
  local name=$1; shift
  local out="$work/logs/backend-$name.out"
  (cd "$root" && exec "$SIM_PY" -m tests.sim_backend.server --port 0 "$@") >"$out" 2>"$work/logs/backend-$name.err" &
  backend_pids+=($!)
  local i
  for i in $(seq 1 100); do
    backend_url=$(sed -n 's/^sim_backend listening on //p' "$out" 2>/dev/null | head -n 1)
    [ -n "$backend_url" ] && return 0
    kill -0 "${backend_pids[-1]}" 2>/dev/null || break
    sleep 0.2
  done
  cat "$work/logs/backend-$name.err" >&2
  return 1
}

# pids_alive: prints the llmlb PIDs (from the wrapper's pid file) that are still running
pids_alive() {
  local pid
  [ -f "$work/llmlb.pids" ] || return 0
  while read -r pid; do llmlb_alive "$pid" && echo "$pid"; done <"$work/llmlb.pids"
}
wait_pids_gone() {  # wait_pids_gone SECONDS
  local deadline=$((SECONDS + $1))
  while [ -n "$(pids_alive)" ]; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.5
  done
}

airflow() { "$AF_VENV/bin/airflow" "$@"; }

# =============================================================================================
# Setup
[ -x "$REAL_LLMLB" ] || setup_failed "llmlb binary not found at $REAL_LLMLB (build it, or set LLMLB_BIN)"
"$REAL_LLMLB" work --help >/dev/null 2>&1 || setup_failed "'$REAL_LLMLB work --help' failed"
[ -x "$SIM_PY" ] || setup_failed "no $SIM_PY (run .ci/setup)"
command -v psql >/dev/null || setup_failed "psql not found (run .ci/setup)"
command -v flock >/dev/null || setup_failed "flock not found (util-linux)"
ensure_airflow_venv || setup_failed "could not install Airflow"
log "$("$AF_VENV/bin/python" -c 'import airflow; print("Airflow", airflow.__version__)')"

work=$(mktemp -d /tmp/llmlb-airflow.XXXXXX)
mkdir -p "$work/logs" "$work/bin" "$work/dags" "$work/cron" "$work/home"
chmod 700 "$work"

# The llmlb every check runs: a wrapper that records its PID, then execs the real binary.
cat >"$work/bin/llmlb" <<EOF
#!/bin/sh
echo \$\$ >>"$work/llmlb.pids"
exec "$REAL_LLMLB" "\$@"
EOF
chmod +x "$work/bin/llmlb"

suffix=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
pg_role="llmlb_af_$suffix"
pg_db="llmlb_airflow_$suffix"
pg_pass="pw-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
as_pg "CREATE ROLE $pg_role LOGIN PASSWORD '$pg_pass'" >/dev/null || setup_failed "could not create role $pg_role"
as_pg "CREATE DATABASE $pg_db OWNER $pg_role" >/dev/null || setup_failed "could not create database $pg_db"
log "PostgreSQL: database $pg_db, role $pg_role on 127.0.0.1:$pg_port"

llmlb_admin migrate >"$work/logs/migrate.log" 2>&1 || { cat "$work/logs/migrate.log"; setup_failed "llmlb migrate"; }
for m in m0 m1 m2 m3; do
  llmlb_admin limits set "$m" --rpm 6000 --burst 100 --max-inflight 8 >>"$work/logs/limits.log" 2>&1 ||
    { cat "$work/logs/limits.log"; setup_failed "llmlb limits set $m"; }
done

start_backend fast --time-scale 0.01 --seed 1 || setup_failed "fast sim backend did not start"
fast_url=$backend_url
start_backend slow --time-scale 1 --min-latency 2 --max-latency 6 --seed 2 || setup_failed "slow sim backend did not start"
slow_url=$backend_url
log "sim backends: fast $fast_url, slow $slow_url"

# Airflow: temp AIRFLOW_HOME, SQLite metadata DB, no examples, our DAG folder.
export AIRFLOW_HOME="$work/airflow"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$work/dags"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
AIRFLOW__CORE__FERNET_KEY=$("$AF_VENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
export AIRFLOW__CORE__FERNET_KEY
export PYTHONWARNINGS=ignore
unset PGPASSWORD PGPASSFILE PGHOST PGUSER PGDATABASE PGSERVICE LLMLB_DATABASE_URL LLMLB_BACKEND_URL LLMLB_BACKEND_TOKEN
cp "$root/dags/llmlb_dag.py" "$root/dags/llmlb_airflow.py" "$here/llmlb_check_dag.py" "$work/dags/"
[ -f "$root/dags/.airflowignore" ] && cp "$root/dags/.airflowignore" "$work/dags/"

airflow db migrate >"$work/logs/airflow-db-migrate.log" 2>&1 ||
  { tail -20 "$work/logs/airflow-db-migrate.log"; setup_failed "airflow db migrate"; }

# Connection (from a 0600 file, deleted right after), pool, Variables.
umask 077
cat >"$work/conn.json" <<EOF
{"llmlb_db": {"conn_type": "postgres", "host": "127.0.0.1", "port": $pg_port, "schema": "$pg_db",
              "login": "$pg_role", "password": "$pg_pass", "extra": {"application_name": "llmlb-airflow-check"}}}
EOF
umask 022
airflow connections import "$work/conn.json" >"$work/logs/airflow-setup.log" 2>&1
rc=$?
rm -f "$work/conn.json"
[ $rc = 0 ] || { tail -20 "$work/logs/airflow-setup.log"; setup_failed "airflow connections import"; }
cat >"$work/pools.json" <<EOF
{"llmlb": {"slots": 4, "description": "llmlb workers", "include_deferred": false}}
EOF
cat >"$work/variables.json" <<EOF
{"llmlb_binary": "$work/bin/llmlb", "llmlb_backend_url": "$fast_url", "llmlb_workers": "2",
 "llmlb_max_runtime": "90s", "llmlb_drain_timeout": "10s", "llmlb_term_grace": "10s"}
EOF
{ airflow pools import "$work/pools.json" && airflow variables import "$work/variables.json"; } >>"$work/logs/airflow-setup.log" 2>&1 ||
  { tail -20 "$work/logs/airflow-setup.log"; setup_failed "airflow pools/variables import"; }
log "setup done"

# =============================================================================================
# Checks

check_dagbag() {
  local out="$work/logs/dagbag.log"
  "$AF_VENV/bin/python" "$here/af_inspect.py" dagbag "$work/dags" >"$out" 2>&1 || { grep -v '^\S*Z \[' "$out" | tail -30; return 1; }
  grep -v '^\S*Z \[' "$out"
  if ! airflow dags list-import-errors --help 2>/dev/null | grep -q -- '--local'; then
    echo "airflow dags list-import-errors has no --local here (Airflow 2): DagBag check only"; return 0
  fi
  airflow dags list-import-errors --local -o json >"$work/logs/list-import-errors.json" 2>"$work/logs/list-import-errors.err" ||
    { cat "$work/logs/list-import-errors.err"; return 1; }
  local errors
  errors=$(grep -v '^\S*Z \[' "$work/logs/list-import-errors.json" | tr -d ' \n')
  if [ "$errors" != "[]" ] && [ -n "$errors" ] && ! grep -q "No data found" <<<"$errors"; then
    echo "airflow dags list-import-errors --local: $errors"; return 1
  fi
  echo "airflow dags list-import-errors --local: none"
}

# dags_test NAME DAG_ID [CONF]: airflow dags test, output in logs/dags-test-NAME.log; sets dt_rc, dt_secs
dags_test() {
  local name=$1 dag_id=$2 conf=${3:-}
  local t0=$SECONDS args=(dags test "$dag_id")
  [ -n "$conf" ] && args+=(-c "$conf")
  cat "$work/llmlb.pids" >>"$work/llmlb.pids.all" 2>/dev/null; : >"$work/llmlb.pids"
  timeout -s TERM 540 "$AF_VENV/bin/airflow" "${args[@]}" >"$work/logs/dags-test-$name.log" 2>&1
  dt_rc=$?
  dt_secs=$((SECONDS - t0))
}
show_log_tail() { grep -v 'graphviz\|pip install graphviz' "$1" | tail -${2:-40} | cut -c1-400; }

check_dags_test_backlog() {
  insert_tasks "af-backlog-" 200
  local before; before=$(counts "af-backlog-")
  echo "backlog before: total solved leased = $before"
  dags_test backlog llmlb '{"until_empty": true}'
  local after states ok=0
  after=$(counts "af-backlog-")
  states=$("$AF_VENV/bin/python" "$here/af_inspect.py" ti-states "$AIRFLOW_HOME/airflow.db" llmlb)
  echo "airflow dags test llmlb: exit $dt_rc in ${dt_secs}s; task instances:"; sed 's/^/  /' <<<"$states"
  echo "backlog after: total solved leased = $after"
  [ "$dt_rc" = 0 ] || { echo "dags test failed"; ok=1; }
  [ "$(grep -c ' success ' <<<"$states")" = "$(grep -c . <<<"$states")" ] || { echo "not every task instance succeeded"; ok=1; }
  grep -q '^work 1 success' <<<"$states" || { echo "expected 2 mapped work slots (map_index 0, 1)"; ok=1; }
  [ "$after" = "200 200 0" ] || { echo "expected 200 solved, 0 leased"; ok=1; }
  local bad_answers
  bad_answers=$(sql "SELECT count(*) FROM tasks WHERE prompt LIKE 'af-backlog-%' AND (answer IS NULL OR answered_by IS NULL)")
  [ "$bad_answers" = 0 ] || { echo "$bad_answers solved tasks without answer/answered_by"; ok=1; }
  wait_pids_gone 10 || { echo "llmlb still running: $(pids_alive | tr '\n' ' ')"; ok=1; }
  [ $ok = 0 ] || show_log_tail "$work/logs/dags-test-backlog.log"
  return $ok
}

check_execution_timeout() {
  insert_tasks "af-timeout-" 1000
  # max_runtime far beyond execution_timeout, slow backend: Airflow's timeout has to stop llmlb.
  local conf
  conf=$(printf '{"workers": 1, "max_runtime": "10m", "execution_timeout": "15s", "term_grace": "3s", "backend_url": "%s"}' "$slow_url")
  dags_test timeout llmlb_check "$conf"
  local lg="$work/logs/dags-test-timeout.log" ok=0 after states
  states=$("$AF_VENV/bin/python" "$here/af_inspect.py" ti-states "$AIRFLOW_HOME/airflow.db" llmlb_check)
  echo "airflow dags test llmlb_check: exit $dt_rc in ${dt_secs}s; task instances:"; sed 's/^/  /' <<<"$states"
  grep -q '^work 0 failed' <<<"$states" || { echo "work[0] should have failed on its execution_timeout"; ok=1; }
  grep -q 'AirflowTaskTimeout' "$lg" || { echo "no AirflowTaskTimeout in the log"; ok=1; }
  grep -q 'stopping llmlb pid .*SIGTERM: llmlb stops claiming' "$lg" || { echo "on_kill did not send SIGTERM"; ok=1; }
  if grep -q 'second SIGTERM\|SIGKILL:' "$lg"; then echo "llmlb did not stop within term-grace (escalated)"; ok=1; fi
  grep -q 'llmlb pid [0-9]* ended with exit code 0' "$lg" || { echo "llmlb did not exit 0 after SIGTERM"; ok=1; }
  # What the operator logged from the timeout on, with llmlb's own last lines (relayed by on_kill).
  grep -E 'stopping llmlb pid|ended with exit code| llmlb: ' "$lg" |
    sed -E -e 's/^.*(INFO|WARNING) - //' -e 's/^\S+Z \[[a-z ]+\] //' -e 's/ +\[airflow\.task[^]]*\] loc=.*$//' |
    awk '!seen[$0]++' | tail -8 | cut -c1-220 | sed 's/^/  log: /'
  # Our on_kill waits for llmlb: nothing may be left running once dags test returned.
  local alive; alive=$(pids_alive | tr '\n' ' ')
  [ -z "$alive" ] || { echo "llmlb processes left after the timeout: $alive"; ok=1; wait_pids_gone 30; }
  [ -s "$work/llmlb.pids" ] || { echo "no llmlb process was started"; ok=1; }
  after=$(counts "af-timeout-")
  echo "timeout batch after: total solved leased = $after"
  read -r total solved leased <<<"$after"
  [ "$leased" = 0 ] || { echo "$leased tasks still leased"; ok=1; }
  [ "$solved" -lt "$total" ] || { echo "every task was solved: the timeout did not cut the run short"; ok=1; }
  local any_leased; any_leased=$(sql "SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL")
  [ "$any_leased" = 0 ] || { echo "$any_leased tasks leased in the whole table"; ok=1; }
  [ $ok = 0 ] || show_log_tail "$lg" 60
  return $ok
}

check_no_secret() {
  local ok=0 hits
  # 1. The role needs its password on 127.0.0.1 (so the runs above got it from the connection).
  if PGPASSWORD= PGPASSFILE=/dev/null psql -w -h 127.0.0.1 -p "$pg_port" -U "$pg_role" -d "$pg_db" -c 'select 1' >/dev/null 2>&1; then
    echo "warning: 127.0.0.1 accepts $pg_role without a password; the DB checks don't prove the password was passed"
  else
    echo "the check role needs its password on 127.0.0.1: the dags test runs got it from the connection"
  fi
  # 2. Logs (dags test prints the task logs), Airflow's log folder, the metadata DB, the config.
  hits=$(grep -rlaF -- "$pg_pass" "$work/logs" "$AIRFLOW_HOME" 2>/dev/null)
  if [ -n "$hits" ]; then echo "the password appears in: $hits"; ok=1; else
    echo "password found in none of: $(find "$work/logs" "$AIRFLOW_HOME" -type f | wc -l) files (task logs, metadata DB, config)"
  fi
  # 3. Rendered template fields (RTIF): recorded, and without password or libpq/secret keys.
  "$AF_VENV/bin/python" "$here/af_inspect.py" rtif "$AIRFLOW_HOME/airflow.db" "$pg_pass" || ok=1
  # 4. The Running command log lines carry no password either (already covered by 2, shown here).
  grep -h 'Running command' "$work"/logs/dags-test-*.log | head -1 | sed 's/^\S* //' | cut -c1-220 | sed 's/^/  log: /'
  return $ok
}

check_cron_line() {
  local cmd vars ok=0 v
  cmd=$("$PY" "$here/af_inspect.py" cron-command "$DOC") || return 1
  vars=$("$PY" "$here/af_inspect.py" cron-vars "$DOC") || return 1
  echo "cron command: $cmd"
  echo "documented variables: $(tr '\n' ' ' <<<"$vars")"
  # The environment cron gives the command: its own few variables plus the crontab's assignments,
  # with this check's values for the documented names.
  local -A val=(
    [SHELL]=/bin/sh
    [PATH]="$work/bin:/usr/bin:/bin"
    [LLMLB_DATABASE_URL]="postgresql://$pg_role@127.0.0.1:$pg_port/$pg_db"
    [LLMLB_BACKEND_URL]="$fast_url"
    [LLMLB_CRON_DIR]="$work/cron"
    [MAILTO]=""
  )
  local env_args=(HOME="$work/home" LOGNAME="$(id -un)" SHELL=/bin/sh PATH=/usr/bin:/bin)
  for v in $vars; do
    [ -n "${val[$v]+x}" ] || { echo "docs set $v; this check does not know a value for it"; return 1; }
    env_args+=("$v=${val[$v]}")
  done
  # The password: ~/.pgpass of the crontab's user, as docs/airflow.md says.
  printf '127.0.0.1:%s:%s:%s:%s\n' "$pg_port" "$pg_db" "$pg_role" "$pg_pass" >"$work/home/.pgpass"
  chmod 600 "$work/home/.pgpass"
  insert_tasks "af-cron-" 300
  cat "$work/llmlb.pids" >>"$work/llmlb.pids.all" 2>/dev/null; : >"$work/llmlb.pids"
  local t0=$SECONDS
  (cd "$work/home" && exec env -i "${env_args[@]}" /bin/sh -c "$cmd") >"$work/logs/cron-1.log" 2>&1 &
  local first=$!
  # Wait until every slot of the first invocation has started (the count stays put for 2 s).
  local started=0 stable=0 i
  for i in $(seq 1 40); do
    sleep 0.5
    local now; now=$(grep -c . "$work/llmlb.pids")
    if [ "$now" -gt 0 ] && [ "$now" = "$started" ]; then stable=$((stable + 1)); else stable=0; fi
    started=$now
    [ $stable -ge 4 ] && break
  done
  # A second invocation while the first still runs: every slot's flock is taken, so it starts nothing.
  local t1=$SECONDS
  (cd "$work/home" && exec timeout 30 env -i "${env_args[@]}" /bin/sh -c "$cmd") >"$work/logs/cron-2.log" 2>&1
  local rc2=$? t2=$((SECONDS - t1))
  local started2; started2=$(grep -c . "$work/llmlb.pids")
  echo "first invocation started $started llmlb; overlapping second one exited $rc2 after ${t2}s, started $((started2 - started))"
  [ "$started" -ge 1 ] || { echo "the cron line started no llmlb"; ok=1; }
  [ "$started2" = "$started" ] || { echo "flock -n did not stop the overlapping invocation"; ok=1; }
  [ "$t2" -le 5 ] || { echo "overlapping invocation took ${t2}s"; ok=1; }
  wait "$first"
  local rc1=$? secs=$((SECONDS - t0))
  local after; after=$(counts "af-cron-")
  echo "first invocation: exit $rc1 after ${secs}s; cron batch: total solved leased = $after"
  read -r total solved leased <<<"$after"
  [ "$secs" -le 60 ] || { echo "the cron invocation ran ${secs}s: longer than its minute"; ok=1; }
  [ "$solved" -gt 0 ] || { echo "no progress"; ok=1; }
  [ "$leased" = 0 ] || { echo "$leased tasks left leased"; ok=1; }
  wait_pids_gone 5 || { echo "llmlb left running: $(pids_alive | tr '\n' ' ')"; ok=1; }
  ls "$work/cron" | sed 's/^/  cron dir: /'
  if [ $ok != 0 ]; then
    for f in "$work/cron"/*.log; do echo "== $f"; tail -5 "$f"; done
  fi
  rm -f "$work/home/.pgpass"
  return $ok
}

run_check "DAG imports (DagBag, list-import-errors) and has the documented shape" check_dagbag
run_check "airflow dags test llmlb solves a 200-task backlog, no lease left" check_dags_test_backlog
run_check "execution_timeout stops llmlb cleanly (SIGTERM, no lease, no process left)" check_execution_timeout
run_check "connection password in no task log, rendered field or metadata DB" check_no_secret
run_check "documented cron line, run exactly as written, makes progress" check_cron_line

# The DAG under a real scheduler: its own databases, backend and Airflow processes (sched_check.py).
check_real_scheduler() {
  if ! "$AF_VENV/bin/python" -c 'import psycopg2, airflow, sys; sys.exit(int(airflow.__version__.split(".")[0]) < 3)' 2>/dev/null; then
    echo "skipped: needs Airflow 3 and psycopg2 in $AF_VENV"; return 0
  fi
  env -u AIRFLOW_HOME -u AIRFLOW__CORE__DAGS_FOLDER -u AIRFLOW__DATABASE__SQL_ALCHEMY_CONN -u AIRFLOW__CORE__FERNET_KEY \
    LLMLB_BIN="$REAL_LLMLB" PGPORT="$pg_port" timeout -s TERM 600 "$AF_VENV/bin/python" "$here/sched_check.py" \
    --json "$work/logs/sched-check.json" 2>&1 | tee "$work/logs/sched-check.log" | grep -v ' tasks done$'
}
run_check "the DAG under a real scheduler (LocalExecutor, PostgreSQL metadata DB): overlapping runs" check_real_scheduler

log "total ${SECONDS}s"
[ "$failed" = 0 ]  # the EXIT trap cleans up and prints the summary line last
