#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, for the demo and the tests.
#
#   cluster.sh up       build what is missing, start everything, wait for the node to be Ready
#   cluster.sh down     stop what `up` started (by pid file), remove the pods' containers
#   cluster.sh reset    down, then delete the cluster state (etcd, kubelet, volumes); keeps caches
#   cluster.sh status   one line per component
#   cluster.sh env      print `export KUBECONFIG=...`
#   cluster.sh kubeconfig   print the admin kubeconfig path
#
# All state and every log live under $STATESAFE_CLUSTER_DIR (default
# ~/.cache/statesafe/cluster). All traffic stays on this machine: etcd, the
# controllers and the scheduler listen on 127.0.0.1; the API server and kubelet on
# a node address that this script adds to `lo` itself (the kubelet refuses a
# loopback node IP); pods live in network namespaces on a bridge with no route
# off the machine, and forwarding out of the bridge is dropped. kube-proxy gives
# Services their ClusterIPs; CoreDNS answers for cluster.local on the node address
# and sends no query anywhere else.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${STATESAFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statesafe}
state=${STATESAFE_CLUSTER_DIR:-$cache/cluster}

node_name=statesafe-node
node_ip=${STATESAFE_NODE_IP:-10.213.0.1}       # added to lo as a /32 by `up`
pod_cidr=10.214.0.0/24
pod_gateway=10.214.0.1
service_cidr=10.215.0.0/24
dns_ip=${service_cidr%.*}.10                   # the kube-dns Service; its endpoint is CoreDNS on the node
coredns_ready=127.0.0.1:10254
bridge=ssbr0
apiserver_port=6443

pki=$state/pki
logs=$state/logs
run=$state/run
containerd_sock=$state/containerd/containerd.sock
kubeconfig=$state/kubeconfig

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- processes

pid_of() { [ -f "$run/$1.pid" ] && cat "$run/$1.pid"; }
running() { local pid; pid=$(pid_of "$1") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

start() {  # start NAME CMD... : detached, logged, pid recorded; no-op if running
  local name=$1; shift
  if running "$name"; then return 0; fi
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
  log "started $name (pid $!, log $logs/$name.log)"
}

stop() {  # stop NAME: TERM, then KILL after 20 s; only the pid we recorded
  local name=$1 pid i
  pid=$(pid_of "$name") || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    log "stopped $name"
  fi
  rm -f "$run/$name.pid"
}

wait_for() {  # wait_for WHAT SECONDS CMD...
  local what=$1 secs=$2 i; shift 2
  for i in $(seq 1 "$secs"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "timed out after ${secs}s waiting for $what (logs: $logs)"
}

# ---------------------------------------------------------------- pki

cert() {  # cert NAME CN O SANS : key + cert signed by the cluster CA
  local name=$1 cn=$2 org=$3 sans=$4
  [ -f "$pki/$name.crt" ] && return 0
  local subj="/CN=$cn"; [ -n "$org" ] && subj="/O=$org$subj"
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  local ext; ext=$(mktemp)
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$ext" "$pki/$name.csr"
}

kubeconfig_for() {  # kubeconfig_for FILE CERTNAME
  local file=$1 name=$2
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: statesafe
  cluster:
    server: https://$node_ip:$apiserver_port
    certificate-authority: $pki/ca.crt
users:
- name: $name
  user:
    client-certificate: $pki/$name.crt
    client-key: $pki/$name.key
contexts:
- name: statesafe
  context: {cluster: statesafe, user: $name, namespace: default}
current-context: statesafe
EOF
  chmod 0600 "$file"
}

make_pki() {
  mkdir -p "$pki"
  chmod 0700 "$pki"
  if [ ! -f "$pki/ca.crt" ]; then
    openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=statesafe-local-ca" -days 3650 \
      -out "$pki/ca.crt" 2>/dev/null
  fi
  local svc_ip=${service_cidr%.*}.1
  cert apiserver kube-apiserver "" \
    "IP:$node_ip,IP:127.0.0.1,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client "" ""
  cert admin statesafe-admin system:masters ""
  cert controller-manager system:kube-controller-manager "" ""
  cert scheduler system:kube-scheduler "" ""
  cert kubelet "system:node:$node_name" system:nodes "IP:$node_ip,IP:127.0.0.1,DNS:$node_name"
  cert kube-proxy system:kube-proxy "" ""     # bound to system:node-proxier by the default RBAC policy
  cert coredns statesafe-coredns "" ""        # bound to statesafe-coredns in bootstrap_objects
  [ -f "$pki/sa.key" ] || {
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  }
  kubeconfig_for "$kubeconfig" admin
  kubeconfig_for "$state/controller-manager.kubeconfig" controller-manager
  kubeconfig_for "$state/scheduler.kubeconfig" scheduler
  kubeconfig_for "$state/kubelet.kubeconfig" kubelet
  kubeconfig_for "$state/kube-proxy.kubeconfig" kube-proxy
  kubeconfig_for "$state/coredns.kubeconfig" coredns
}

# ---------------------------------------------------------------- network

keep_pods_in() {
  # Pods reach only the node and each other; nothing leaves the machine through them. The drop goes
  # first in FORWARD, ahead of the rules kube-proxy prepends (they accept established connections
  # and traffic it marked for masquerading).
  [ "$(iptables -S FORWARD 1 2>/dev/null)" = "-A FORWARD -i $bridge ! -o $bridge -j DROP" ] && return 0
  while iptables -D FORWARD -i "$bridge" ! -o "$bridge" -j DROP 2>/dev/null; do :; done
  iptables -I FORWARD 1 -i "$bridge" ! -o "$bridge" -j DROP
}

setup_network() {
  # Not `ip ... | grep -q`: grep exits at the first match, ip may die of SIGPIPE, and pipefail
  # would then take the address for missing.
  grep -q " $node_ip/32" <<<"$(ip addr show dev lo)" || ip addr add "$node_ip/32" dev lo
  # A pod reaching a Service whose endpoint is a pod on the same bridge: the reply is bridged, not
  # routed, and kube-proxy's NAT can only undo its translation if bridged traffic passes iptables.
  local nf=/proc/sys/net/bridge/bridge-nf-call-iptables
  [ -f "$nf" ] || modprobe br_netfilter || true
  [ "$(cat "$nf" 2>/dev/null)" = 1 ] || sysctl -qw net.bridge.bridge-nf-call-iptables=1 \
    || die "bridged traffic must pass iptables for Services to work (modprobe br_netfilter; $nf = 1)"
  keep_pods_in
  mkdir -p "$state/cni/net.d" "$state/cni/ipam"
  cat >"$state/cni/net.d/10-statesafe.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "statesafe",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$state/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$pod_gateway"}]],
        "routes": [{"dst": "$node_ip/32"}, {"dst": "$service_cidr"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
  # The node's resolver, as kubelet sees it: pods with `dnsPolicy: Default` get this file and
  # ClusterFirst pods its search list. A real node would name an upstream server; none may be
  # used here, so it points at the pod's own loopback and such lookups fail at once.
  echo "nameserver 127.0.0.1" >"$state/resolv.conf"
}

teardown_network() {
  iptables -D FORWARD -i "$bridge" ! -o "$bridge" -j DROP 2>/dev/null || true
  ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge" || true
  if grep -q " $node_ip/32" <<<"$(ip addr show dev lo)"; then ip addr del "$node_ip/32" dev lo; fi
}

# ---------------------------------------------------------------- components

start_etcd() {
  mkdir -p "$state/etcd"
  start etcd "$bin/etcd" --name statesafe --data-dir "$state/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster statesafe=http://127.0.0.1:2380 \
    --listen-metrics-urls http://127.0.0.1:2381 --quota-backend-bytes 4294967296
  wait_for etcd 60 curl -fsS http://127.0.0.1:2381/health
}

start_apiserver() {
  start kube-apiserver "$bin/kube-apiserver" \
    --bind-address "$node_ip" --advertise-address "$node_ip" --secure-port "$apiserver_port" \
    --etcd-servers http://127.0.0.1:2379 \
    --service-cluster-ip-range "$service_cidr" \
    --authorization-mode Node,RBAC --anonymous-auth=false \
    --client-ca-file "$pki/ca.crt" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --allow-privileged=true --profiling=false \
    --enable-admission-plugins NodeRestriction
  wait_for kube-apiserver 120 "$bin/kubectl" --kubeconfig "$kubeconfig" get --raw /readyz
}

start_controllers() {
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$state/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$state/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --enable-hostpath-provisioner --service-cluster-ip-range "$service_cidr"
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$state/scheduler.kubeconfig" \
    --authentication-kubeconfig "$state/scheduler.kubeconfig" \
    --authorization-kubeconfig "$state/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false
}

start_kube_proxy() {
  # iptables mode, as most clusters run it. Traffic to a ClusterIP from outside the pod network is
  # masqueraded (clusterCIDR). NodePorts open on the node address only, never on the machine's
  # other interfaces. conntrack sysctls (maxPerCore 0, timeouts 0s) and the OOM score are left
  # as they are: they are the machine's, not the cluster's, and this root lacks CAP_SYS_RESOURCE.
  mkdir -p "$state/kube-proxy"
  # kube-proxy exits as soon as its configuration file is written to, even with the same bytes:
  # leave the file alone when nothing changed, and restart it when something did.
  local config=$state/kube-proxy/config.yaml
  cat >"$config.new" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $state/kube-proxy.kubeconfig}
hostnameOverride: $node_name
bindAddress: $node_ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
mode: iptables
iptables: {localhostNodePorts: false}
clusterCIDR: $pod_cidr
nodePortAddresses: [$node_ip/32]
oomScoreAdj: 0
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  if cmp -s "$config.new" "$config"; then
    rm -f "$config.new"
  else
    stop kube-proxy
    mv "$config.new" "$config"
  fi
  start kube-proxy "$bin/kube-proxy" --config "$config"
  wait_for kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
  wait_for "kube-proxy's FORWARD rules" 60 \
    iptables -C FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
  keep_pods_in
}

start_coredns() {
  # CoreDNS listens on the node address, which every pod can route to; pods reach it as the
  # kube-dns Service (bootstrap_objects), whose EndpointSlice names that address. Only the
  # cluster's zones are served; every other name is answered NXDOMAIN by the template plugin,
  # and the binary has no plugin that forwards (tests/cluster/coredns/main.go).
  mkdir -p "$state/coredns"
  cat >"$state/coredns/Corefile" <<EOF
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    bind $node_ip
    errors
    ready $coredns_ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $state/coredns.kubeconfig
        pods insecure
        ttl 30
    }
}
.:53 {
    bind $node_ip
    errors
    template ANY ANY {
        rcode NXDOMAIN
    }
}
EOF
  start coredns "$coredns_bin/coredns" -conf "$state/coredns/Corefile"
  wait_for coredns 60 curl -fsS "http://$coredns_ready/ready"
}

start_containerd() {
  mkdir -p "$state/containerd"
  cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
[grpc]
  address = "$containerd_sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_ref"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  # This machine's root lacks CAP_SYS_RESOURCE, so runc cannot set the negative
  # oom_score_adj kubelet asks for (-998 for sandboxes); clamp it at ours instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
EOF
  start containerd containerd --config "$state/containerd/config.toml"
  wait_for containerd 60 ctr --address "$containerd_sock" version
}

start_kubelet() {
  # Static pods: the etcd role's static-pods restore is tested with a throwaway control plane run from here
  # (tests/integration/etcd/test_etcd_static_pods.py), as kubeadm runs etcd and the API server.
  mkdir -p "$state/kubelet/static-pods"
  cat >"$state/kubelet/config.yaml.new" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
containerRuntimeEndpoint: unix://$containerd_sock
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
resolvConf: $state/resolv.conf
# The kube-dns Service, as on real clusters; kube-proxy sends it to CoreDNS on the node.
clusterDNS: [$dns_ip]
clusterDomain: cluster.local
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
serializeImagePulls: false
registerNode: true
staticPodPath: $state/kubelet/static-pods
EOF
  # A running kubelet of an older configuration is restarted with this one; its pods keep running meanwhile.
  if ! cmp -s "$state/kubelet/config.yaml.new" "$state/kubelet/config.yaml"; then
    stop kubelet
  fi
  mv "$state/kubelet/config.yaml.new" "$state/kubelet/config.yaml"
  start kubelet "$bin/kubelet" --config "$state/kubelet/config.yaml" \
    --kubeconfig "$state/kubelet.kubeconfig" --root-dir "$state/kubelet/root" \
    --hostname-override "$node_name" --node-ip "$node_ip" --cert-dir "$state/kubelet/pki"
}

bootstrap_objects() {
  "$bin/kubectl" --kubeconfig "$kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: hostpath
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
# Claims of this class get local volumes (tests/cluster/local_provisioner.py), to which the kubelet
# applies a pod's fsGroup as CSI storage does; host-path volumes ignore it.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local}
provisioner: statesafe.test/local-volume
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
# The API server talks to kubelets (exec, logs, port-forward) as this user.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: statesafe-apiserver-kubelet-client}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}
---
# What CoreDNS's kubernetes plugin reads (upstream's system:coredns role).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: statesafe-coredns}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: statesafe-coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: statesafe-coredns}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: statesafe-coredns}
---
# The cluster DNS at the address kubelet gives pods. CoreDNS is a host process, not a pod, so the
# Service has no selector and its one endpoint is the node address CoreDNS listens on.
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $dns_ip
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: cluster.sh.statesafe.test
addressType: IPv4
endpoints:
- addresses: [$node_ip]
  conditions: {ready: true}
  nodeName: $node_name
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOF
}

start_local_provisioner() {
  local python; python="$("$here/../venv.sh")/bin/python"
  start local-provisioner "$python" "$here/local_provisioner.py" \
    --kubeconfig "$kubeconfig" --root "$state/local-volumes" --node "$node_name"
}

node_ready() {
  [ "$("$bin/kubectl" --kubeconfig "$kubeconfig" get node "$node_name" \
      -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local t0; t0=$(date +%s)
  mkdir -p "$logs" "$run"
  "$here/install-deps.sh"
  # On a fresh machine the images (downloads, dpkg, compression) and Kubernetes and CoreDNS (Go
  # builds) take most of the first `up`; they need nothing from each other, so they build side by side.
  "$here/images/build.sh" >"$run/images.built" &
  local images_pid=$!
  if ! bin=$("$here/k8s/build.sh") || ! coredns_bin=$("$here/coredns/build.sh"); then
    kill "$images_pid" 2>/dev/null || true
    wait "$images_pid" || true
    die "building Kubernetes or CoreDNS failed"
  fi
  wait "$images_pid" || die "building the images failed"
  mapfile -t images <"$run/images.built"
  pause_ref=$(printf '%s\n' "${images[@]}" | awk '$1 ~ /\/pause:/ {print $1}')
  [ -n "$pause_ref" ] || die "images/build.sh built no pause image"
  mkdir -p "$state"
  printf '%s\n' "${images[@]}" >"$state/images.txt"   # read by the sample stack and the tests
  # The host-path provisioner writes under /tmp/hostpath_pv; keep that data in our state dir.
  mkdir -p "$state/volumes"
  if [ ! -e /tmp/hostpath_pv ]; then ln -s "$state/volumes" /tmp/hostpath_pv; fi
  [ "$(readlink /tmp/hostpath_pv)" = "$state/volumes" ] \
    || die "/tmp/hostpath_pv exists and is not ours; move it away first"
  make_pki
  setup_network
  start_etcd
  start_apiserver
  start_controllers
  start_containerd
  "$here/images/import.sh" "$containerd_sock" >&2
  start_kubelet
  bootstrap_objects
  start_local_provisioner
  wait_for "node $node_name Ready" 180 node_ready
  # kube-proxy after the node exists: it takes the node's addresses from the Node object and waits
  # 30 s for them otherwise.
  start_kube_proxy
  start_coredns
  wait_for "default service account" 60 "$bin/kubectl" --kubeconfig "$kubeconfig" get serviceaccount default
  ln -sfn "$bin" "$state/bin"
  log "cluster ready in $(( $(date +%s) - t0 ))s"
  echo "$kubeconfig"
}

remove_pod_containers() {
  # Kubelet leaves pod containers running when it stops; they belong to this
  # cluster (our containerd, our namespace), so take them down with it.
  running containerd || return 0
  local c
  for c in $(ctr --address "$containerd_sock" -n k8s.io tasks ls -q 2>/dev/null); do
    ctr --address "$containerd_sock" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
  done
  sleep 1
  for c in $(ctr --address "$containerd_sock" -n k8s.io tasks ls -q 2>/dev/null); do
    ctr --address "$containerd_sock" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
  done
  for c in $(ctr --address "$containerd_sock" -n k8s.io containers ls -q 2>/dev/null); do
    ctr --address "$containerd_sock" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
  done
}

unmount_under_state() {
  # Volume, overlay and netns mounts made for pods, deepest first.
  local m
  for m in $(awk -v s="$state/" 'index($2, s) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

cmd_down() {
  mkdir -p "$run"
  stop local-provisioner
  stop coredns
  stop kubelet
  remove_pod_containers
  stop containerd
  stop kube-proxy
  # kube-proxy leaves its rules behind when it stops; take out the Service NAT it made.
  if [ -x "$state/bin/kube-proxy" ]; then "$state/bin/kube-proxy" --cleanup >>"$logs/kube-proxy.log" 2>&1 || true; fi
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  unmount_under_state
  teardown_network
  log "down"
}

cmd_reset() {
  cmd_down
  case "$state" in */statesafe/cluster|*/statesafe-cluster*) ;; *) die "refusing to delete unexpected state dir $state";; esac
  rm -rf "$state"
  [ -L /tmp/hostpath_pv ] && rm -f /tmp/hostpath_pv
  log "state removed: $state"
}

cmd_status() {
  local c
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy containerd kubelet coredns \
           local-provisioner; do
    if running "$c"; then echo "$c running (pid $(pid_of "$c"))"; else echo "$c stopped"; fi
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  reset) cmd_reset ;;
  status) cmd_status ;;
  env) echo "export KUBECONFIG=$kubeconfig" ;;
  kubeconfig) echo "$kubeconfig" ;;
  *) echo "usage: $0 up|down|reset|status|env|kubeconfig" >&2; exit 2 ;;
esac
