#!/usr/bin/env bash
# Starts a local 3-node NATS JetStream cluster (n1, n2, n3) on 127.0.0.1 with
# the configuration docs/SCALING.md describes: JetStream, routes between the
# three, max_payload 24 MiB like the embedded server. Ctrl-C stops all three.
#
#   scripts/nats-cluster.sh [DIR]      # configs, stores and logs in DIR (default ./data/nats-cluster)
#
# Clients: NATS_URL=nats://127.0.0.1:14222,nats://127.0.0.1:14223,nats://127.0.0.1:14224
# Monitoring: http://127.0.0.1:18222 (n1), :18223 (n2), :18224 (n3).
# The nats-server binary is $NATS_SERVER, else the one on PATH, else built from
# the version go.mod pins (go build github.com/nats-io/nats-server/v2).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mkdir -p "${1:-./data/nats-cluster}" && cd "${1:-./data/nats-cluster}" && pwd)
bin=${NATS_SERVER:-$(command -v nats-server || true)}
if [ -z "$bin" ]; then
	echo "building nats-server (the version go.mod pins) into bin/nats-server" >&2
	go build -o bin/nats-server github.com/nats-io/nats-server/v2
	bin=bin/nats-server
fi
for i in 1 2 3; do
	cat >"$dir/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((14221 + i))
http: 127.0.0.1:$((18221 + i))
# As the embedded server: a 16 MiB log batch is one event of up to 24 MiB.
max_payload: 24MB
max_pending: 96MB
jetstream {
  store_dir: "$dir/n$i"
  max_memory_store: 256MB
}
cluster {
  name: eventline
  listen: 127.0.0.1:$((16221 + i))
  routes: [
    nats-route://127.0.0.1:16222
    nats-route://127.0.0.1:16223
    nats-route://127.0.0.1:16224
  ]
}
CONF
done
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait; }
trap stop EXIT INT TERM
for i in 1 2 3; do
	"$bin" -c "$dir/n$i.conf" -l "$dir/n$i.log" &
	pids+=($!)
done
for i in 1 2 3; do
	for _ in $(seq 1 100); do
		if curl -sf "http://127.0.0.1:$((18221 + i))/healthz?js-enabled-only=true" >/dev/null; then break; fi
		sleep 0.2
	done
done
echo "3-node JetStream cluster up (logs in $dir/n*.log); Ctrl-C stops it"
echo "NATS_URL=nats://127.0.0.1:14222,nats://127.0.0.1:14223,nats://127.0.0.1:14224"
wait
