#!/usr/bin/env bash
# A throwaway control plane for the etcd role's tests: etcd and kube-apiserver from the local cluster's build,
# with TLS everywhere (a CA and certificates made here with openssl), on ports and in directories of its own, so
# the local cluster (2379/2380/2381/6443, ~/.cache/statesafe/cluster) is never touched.
#
#   controlplane.sh DIR init     CA, certificates, kubeconfig, ports (from DIR/env, written by the caller)
#   controlplane.sh DIR start    start etcd, then kube-apiserver; wait until /readyz answers
#   controlplane.sh DIR stop     stop kube-apiserver, then etcd; wait until both are gone
#   controlplane.sh DIR static-pods KUBELET_DIR PREFIX IMAGE
#                                the same two as static pods of the local cluster's kubelet (kubeadm's way)
#
# DIR/env sets BIN (the build's bin directory) and ETCD_PORT, PEER_PORT, METRICS_PORT, API_PORT. The layout under
# DIR is kubeadm's, below DIR/etc/kubernetes: pki/ (pki/etcd/ for etcd's), manifests/, admin.conf; etcd's data
# directory is DIR/var/lib/etcd. The role's restore stops and starts this control plane through these commands.
set -euo pipefail
dir=$1
action=$2
# shellcheck disable=SC1091
. "$dir/env"
k8s=$dir/etc/kubernetes
pki=$k8s/pki
data=$dir/var/lib/etcd
run=$dir/run
mkdir -p "$run"

key() {  # P-256 keys: made in milliseconds, where RSA keys cost the fixture seconds on a busy machine
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

cert() {  # cert CA NAME SUBJECT EXTENSIONS, signed by the CA
  local ca=$1 name=$2 subj=$3 ext=$4
  key "$name.key"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 2 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 2 -out "$1.crt" 2>/dev/null
}

init() {
  mkdir -p "$pki/etcd" "$k8s/manifests" "$(dirname "$data")"
  local server="basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
  local client="basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  ca "$pki/etcd/ca" throwaway-etcd-ca
  cert "$pki/etcd/ca" "$pki/etcd/server" /CN=throwaway-etcd "$server"
  cert "$pki/etcd/ca" "$pki/etcd/healthcheck-client" "/O=system:masters/CN=kube-etcd-healthcheck-client" "$client"
  cert "$pki/etcd/ca" "$pki/apiserver-etcd-client" "/O=system:masters/CN=kube-apiserver-etcd-client" "$client"
  ca "$pki/ca" throwaway-kubernetes-ca
  cert "$pki/ca" "$pki/apiserver" /CN=kube-apiserver "$server"
  cert "$pki/ca" "$pki/admin" "/O=system:masters/CN=kubernetes-admin" "$client"
  key "$pki/sa.key"
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  # Stand-ins for kubeadm's static-pod manifests: backed up and put back like any other listed file.
  for name in etcd kube-apiserver; do
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: kube-system}\n' "$name" >"$k8s/manifests/$name.yaml"
  done
  cat >"$k8s/admin.conf" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: throwaway
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$pki/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key"}
contexts:
- name: throwaway
  context: {cluster: throwaway, user: admin}
current-context: throwaway
EOF
}

alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

launch() {  # launch NAME ARGV...: in a session of its own, so a stop reaches the process and nothing else
  local name=$1; shift
  setsid "$@" >>"$run/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
}

wait_until() {  # wait_until SECONDS WHAT COMMAND...
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$what did not come up; last log lines:" >&2
      tail -n 20 "$run"/*.log >&2 || true
      return 1
    fi
    sleep 0.3
  done
}

etcd_argv=("$BIN/etcd" --name throwaway --data-dir "$data"
  --listen-client-urls "https://127.0.0.1:$ETCD_PORT" --advertise-client-urls "https://127.0.0.1:$ETCD_PORT"
  --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT"
  --initial-cluster "throwaway=http://127.0.0.1:$PEER_PORT"
  --listen-metrics-urls "http://127.0.0.1:$METRICS_PORT"
  --cert-file "$pki/etcd/server.crt" --key-file "$pki/etcd/server.key"
  --client-cert-auth --trusted-ca-file "$pki/etcd/ca.crt")
# No writer of its own between requests: the endpoint reconciler's lease, the API server's identity lease and
# the compactor each write on a timer, which would change etcd's revision while nothing else does.
apiserver_argv=("$BIN/kube-apiserver"
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT"
  --etcd-servers "https://127.0.0.1:$ETCD_PORT" --etcd-cafile "$pki/etcd/ca.crt"
  --etcd-certfile "$pki/apiserver-etcd-client.crt" --etcd-keyfile "$pki/apiserver-etcd-client.key"
  --etcd-compaction-interval 0 --endpoint-reconciler-type none --feature-gates APIServerIdentity=false
  --service-cluster-ip-range 10.254.0.0/24 --authorization-mode RBAC --anonymous-auth=true
  --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key"
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key"
  --service-account-issuer https://kubernetes.default.svc --profiling=false)

wait_up() {
  wait_until 60 etcd curl -fsS "http://127.0.0.1:$METRICS_PORT/health"
  wait_until 120 kube-apiserver curl -fsS --cacert "$pki/ca.crt" "https://127.0.0.1:$API_PORT/readyz"
}

start() {
  alive etcd || launch etcd "${etcd_argv[@]}"
  wait_until 60 etcd curl -fsS "http://127.0.0.1:$METRICS_PORT/health"
  alive kube-apiserver || launch kube-apiserver "${apiserver_argv[@]}"
  wait_up
}

# static_pod NAME IMAGE ARGV...: a static-pod manifest running ARGV on the host's network, with the build's binaries
# and this control plane's directory mounted at their own paths, as kubeadm's etcd.yaml and kube-apiserver.yaml are.
static_pod() {
  local name=$1 image=$2 arg; shift 2
  printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: kube-system\nspec:\n' "$name"
  printf '  hostNetwork: true\n  terminationGracePeriodSeconds: 5\n  containers:\n  - name: main\n'
  printf '    image: %s\n    imagePullPolicy: Never\n    command:\n' "$image"
  for arg in "$@"; do printf '    - "%s"\n' "$arg"; done
  printf '    volumeMounts:\n    - {name: bin, mountPath: "%s", readOnly: true}\n    - {name: dir, mountPath: "%s"}\n' \
    "$BIN" "$dir"
  printf '  volumes:\n  - {name: bin, hostPath: {path: "%s"}}\n  - {name: dir, hostPath: {path: "%s"}}\n' "$BIN" "$dir"
}

stop_one() {
  alive "$1" || { rm -f "$run/$1.pid"; return 0; }
  local pid; pid=$(cat "$run/$1.pid")
  kill -TERM "$pid"
  local deadline=$(( $(date +%s) + 30 ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.2
  done
  rm -f "$run/$1.pid"
}

case $action in
  init) init ;;
  start) start ;;
  stop) stop_one kube-apiserver; stop_one etcd ;;
  # static-pods KUBELET_DIR PREFIX IMAGE: the kubelet runs etcd and kube-apiserver from PREFIX-etcd.yaml and
  # PREFIX-kube-apiserver.yaml in its static-pod directory; returns once the API server is ready.
  static-pods)
    static_pod "$4-etcd" "$5" "${etcd_argv[@]}" >"$3/.$4-etcd.yaml"
    static_pod "$4-kube-apiserver" "$5" "${apiserver_argv[@]}" >"$3/.$4-kube-apiserver.yaml"
    mv "$3/.$4-etcd.yaml" "$3/$4-etcd.yaml"
    mv "$3/.$4-kube-apiserver.yaml" "$3/$4-kube-apiserver.yaml"
    wait_up ;;
  *) echo "usage: $0 DIR init|start|stop|static-pods KUBELET_DIR PREFIX IMAGE" >&2; exit 2 ;;
esac
