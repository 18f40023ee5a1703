# Sourced by the scripts that drive the real server (walkthrough, schemathesis, generated
# client): one way to install a pinned Python tool and to start and stop a server.

# pinned_venv DIR REQUIREMENTS: a venv at DIR holding exactly the pins in REQUIREMENTS
# (reinstalled when the file changes).
pinned_venv() {
  local venv=$1 requirements=$2
  if ! cmp -s "$requirements" "$venv/installed.txt" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/installed.txt"
  fi
}

# start_server BIN WORKDIR: runs `BIN serve` in WORKDIR with the caller's JEKCMS_* settings on
# a port the kernel picks (a fixed port could be taken), and waits until it listens. Sets
# server_pid and server_addr (host:port); its output goes to WORKDIR/out and WORKDIR/server.log.
# Exits with the server's log if it does not start within 10 s.
start_server() {
  local bin=$1 work=$2
  # `exec`, so that the pid is the server itself and `kill` stops it.
  (cd "$work" && JEKCMS_BIND="127.0.0.1:0" exec "$bin" serve >"$work/out" 2>"$work/server.log") &
  server_pid=$!
  for _ in $(seq 1 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
  server_addr=$(sed -n 's|^listening on http://||p' "$work/out" | head -1)
  if [ -z "$server_addr" ]; then
    echo "the server did not start (database $JEKCMS_DATABASE_URL):" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
}

# stop_server: stops the server start_server started, if it still runs.
stop_server() {
  if [ -n "${server_pid:-}" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}

# server_panicked WORKDIR: true (and prints the panic) if the server's log shows one.
server_panicked() {
  if grep -q panicked "$1/server.log"; then
    echo "the server panicked:" >&2
    grep -B2 -A5 panicked "$1/server.log" >&2
    return 0
  fi
  return 1
}
