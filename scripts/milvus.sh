#!/usr/bin/env bash
# A real Milvus 2.3.5 standalone (PyPI's `milvus` package: embedded etcd,
# local storage) for facekit's tests and benchmarks, inside a private network
# namespace with nothing but loopback: milvus-server binds every interface on
# about nine ports, so it must never run in the host's namespace.
#
#   bash scripts/milvus.sh start        # installs it (once), starts it, waits for /healthz
#   bash scripts/milvus.sh exec CMD...  # runs CMD inside the namespace (FACEKIT_MILVUS_URL set)
#   bash scripts/milvus.sh stop         # stops it, removes the namespace and its data
#   bash scripts/milvus.sh stop-all     # the same for every fk-milvus-* namespace (CI's last step)
#
# Needs root (ip netns). FACEKIT_MILVUS_NS names the namespace (default facekit-milvus).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ns=${FACEKIT_MILVUS_NS:-facekit-milvus}
venv=$root/.facekit/milvus-venv
state=$root/.facekit/milvus-$ns
MILVUS_VERSION=2.3.5

stop() {
  if ip netns list | grep -qw "$ns"; then
    for pid in $(ip netns pids "$ns"); do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do [ -z "$(ip netns pids "$ns")" ] && break; sleep 0.2; done
    for pid in $(ip netns pids "$ns"); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns delete "$ns"
  fi
  rm -rf "$state"
}

case "${1:-}" in
  start)
    if [ ! -x "$venv/bin/milvus-server" ]; then
      echo "milvus: installing milvus==$MILVUS_VERSION from PyPI into $venv" >&2
      python3 -m venv "$venv"
      "$venv/bin/pip" install -q "milvus==$MILVUS_VERSION"
    fi
    stop
    mkdir -p "$state"
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" setsid "$venv/bin/milvus-server" --data "$state/data" > "$state/server.log" 2>&1 < /dev/null &
    for _ in $(seq 300); do
      if ip netns exec "$ns" python3 -c 'import urllib.request,sys; sys.exit(urllib.request.urlopen("http://127.0.0.1:9091/healthz", timeout=1).status != 200)' 2>/dev/null; then
        echo "milvus: ready in namespace $ns (milvus://127.0.0.1:19530)" >&2
        exit 0
      fi
      sleep 0.2
    done
    echo "milvus: not ready after 60 s; log: $state/server.log" >&2
    tail -20 "$state/server.log" >&2 || true
    stop
    exit 1
    ;;
  exec)
    shift
    FACEKIT_MILVUS_URL=milvus://127.0.0.1:19530 exec ip netns exec "$ns" "$@"
    ;;
  stop)
    stop
    ;;
  stop-all)
    for name in $(ip netns list 2>/dev/null | awk '/^fk-milvus-/ {print $1}'); do
      FACEKIT_MILVUS_NS=$name bash "$0" stop
    done
    ;;
  *)
    echo "usage: bash scripts/milvus.sh start | exec CMD... | stop | stop-all" >&2
    exit 2
    ;;
esac
