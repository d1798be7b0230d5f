#!/usr/bin/env bash
# Builds the Kubernetes tools Conflux's tests run, from the Go module proxy, into a cache outside the
# repository: ${CONFLUX_TOOLS_DIR:-$HOME/.cache/conflux-tools}/<tool>-<version>/.
#   kubernetes-v1.34.N/  kube-apiserver kube-controller-manager kube-scheduler kubectl  (wrapper module ./kubernetes)
#   etcd-v3.6.N/         etcd                                                          (wrapper module ./etcd)
#   helm-v3.19.N/        helm                                                          (go install)
# A tool whose binaries are there and report the right version (`--version`) is not rebuilt, so only a
# fresh machine pays the build (cold: ~20-30 min on 2 cores, see test/k8s/README.md).
# Usage: build.sh [helm|etcd|kubernetes|all]...   (default: all). Prints "<tool> <dir>" per tool.
# Versions live in one place each: the wrapper go.mod files, and HELM_VERSION below.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools_dir="${CONFLUX_TOOLS_DIR:-$HOME/.cache/conflux-tools}"
HELM_VERSION=v3.19.5
# Helm's templates and lint assume this Kubernetes version when no cluster is asked (its Makefile derives it
# from client-go's version; a plain `go install` leaves 1.20).
HELM_KUBE_MAJOR=1 HELM_KUBE_MINOR=34

# Go's official tarball puts it in /usr/local/go, which a non-login shell (CI) may not have on its PATH.
[[ -x /usr/local/go/bin/go ]] && PATH="$PATH:/usr/local/go/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { echo "build.sh: $*" >&2; }

# The version a wrapper go.mod requires for a module (the go.mod is the single source of the version).
mod_version() { awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$here/$1/go.mod"; }

kube_version() { mod_version kubernetes k8s.io/kubernetes; }
etcd_version() { mod_version etcd go.etcd.io/etcd/server/v3; }

# True when every binary of a tool is in $1 and reports the expected version.
have_kubernetes() {
  local dir=$1 v=$2
  [[ -x $dir/kube-apiserver && -x $dir/kube-controller-manager && -x $dir/kube-scheduler && -x $dir/kubectl ]] || return 1
  [[ "$("$dir/kube-apiserver" --version 2>/dev/null)" == "Kubernetes $v" ]] || return 1
  [[ "$("$dir/kube-controller-manager" --version 2>/dev/null)" == "Kubernetes $v" ]] || return 1
  [[ "$("$dir/kube-scheduler" --version 2>/dev/null)" == "Kubernetes $v" ]] || return 1
  # Captured, not piped into grep -q: grep exiting at the first match can SIGPIPE the tool, and pipefail
  # would turn that into a failed check.
  local out
  out=$("$dir/kubectl" version --client 2>/dev/null) || return 1
  [[ $'\n'$out$'\n' == *$'\n'"Client Version: $v"$'\n'* ]]
}
have_etcd() {
  local out
  [[ -x $1/etcd ]] && out=$("$1/etcd" --version 2>/dev/null) && [[ $out$'\n' == "etcd Version: ${2#v}"$'\n'* ]]
}
have_helm() { [[ -x $1/helm ]] && [[ "$("$1/helm" version --template '{{.Version}}' 2>/dev/null)" == "$2" ]]; }

# Runs "build_<tool> <partial dir>" under a per-tool lock (two helpers or test runs may ask at once) unless the
# tool is already there; the build goes to <dir>.partial and is renamed into place only when it is complete.
ensure() {
  local tool=$1 version=$2 dir="$tools_dir/$1-$2"
  mkdir -p "$tools_dir"
  if ! "have_$tool" "$dir" "$version"; then
    exec 9>"$tools_dir/.$tool.lock"
    flock 9
    if ! "have_$tool" "$dir" "$version"; then
      command -v go >/dev/null || { log "Go >= 1.26 is needed to build $tool (https://go.dev/dl)"; exit 1; }
      log "building $tool $version into $dir (cold build; see test/k8s/README.md)"
      local start=$SECONDS
      rm -rf "$dir.partial" "$dir"
      mkdir -p "$dir.partial"
      "build_$tool" "$dir.partial" "$version"
      "have_$tool" "$dir.partial" "$version" || { log "$tool $version: built binaries do not report $version"; exit 1; }
      mv "$dir.partial" "$dir"
      log "built $tool $version in $((SECONDS - start)) s ($(du -sh "$dir" | cut -f1))"
    fi
    exec 9>&-
  fi
  echo "$tool $dir"
}

build_kubernetes() {
  local out=$1 v=$2 minor ld="-s -w" p
  minor=$(echo "$v" | cut -d. -f2)
  # Without these the binaries report v0.0.0-master+$Format:%H$, and version checks (Helm's kubeVersion,
  # kubectl's skew warning) fail. buildDate is the tag's publication time on the proxy, so builds repeat.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld+=" -X $p.gitCommit= -X $p.buildDate=$(proxy_time k8s.io/kubernetes "$v")"
  done
  # One `go build` for all four: they share most packages, and the compiler runs each package once.
  (cd "$here/kubernetes" && go build -trimpath -ldflags "$ld" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local out=$1 v=$2
  # etcd's version is a constant in its api module; only the commit is a link-time variable.
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=proxy.golang.org" \
    -o "$out/etcd" go.etcd.io/etcd/server/v3)
}

build_helm() {
  local out=$1 v=$2 ld="-s -w" p
  ld+=" -X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld+=" -X $p.k8sVersionMajor=$HELM_KUBE_MAJOR -X $p.k8sVersionMinor=$HELM_KUBE_MINOR"
  done
  # helm's go.mod has no replace lines, so `go install pkg@version` works (outside any module).
  (cd / && GOBIN="$out" GOFLAGS=-buildvcs=false go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$v")
}

# A module version's publication time, from the proxy's .info (kept in the module cache after a download).
proxy_time() {
  local info
  info=$(cd "$here/kubernetes" && go mod download -json "$1@$2" | awk -F'"' '$2 == "Info" { print $4 }')
  sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$info"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(all)
for t in "${targets[@]}"; do
  case $t in
    helm) ensure helm "$HELM_VERSION" ;;
    etcd) ensure etcd "$(etcd_version)" ;;
    kubernetes) ensure kubernetes "$(kube_version)" ;;
    all) ensure helm "$HELM_VERSION"; ensure etcd "$(etcd_version)"; ensure kubernetes "$(kube_version)" ;;
    *) log "unknown tool $t (helm, etcd, kubernetes, all)"; exit 2 ;;
  esac
done
