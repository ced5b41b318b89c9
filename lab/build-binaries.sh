#!/usr/bin/env bash
# Builds the lab's real binaries (kube-apiserver, kubeadm, kubectl, etcd, helm) from the Go module proxy at the
# versions pinned in lab/versions.env, once: a binary already in the cache is never rebuilt.
#   KMETAL_CACHE   where builds are cached (default ~/.cache/kmetal); binaries land in $KMETAL_CACHE/bin
#   KMETAL_BIN     where version-free links to them are made (default <repo>/.lab/bin)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${KMETAL_CACHE:-$HOME/.cache/kmetal}
links=${KMETAL_BIN:-$here/../.lab/bin}
mkdir -p "$cache/bin" "$cache/logs" "$links"

if ! command -v go >/dev/null 2>&1; then
  echo "build-binaries: no Go toolchain on PATH. Install Go 1.24 or newer (https://go.dev/doc/install) and re-run." >&2
  exit 1
fi
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

# build NAME VERSION MODULE_DIR PACKAGE LDFLAGS
build() {
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags=$5 out="$cache/bin/$1-$2"
  if [ ! -x "$out" ]; then
    echo "build-binaries: building $name $version (first time only)"
    local log="$cache/logs/build-$name-$version.log" start=$SECONDS
    if ! (cd "$here/go/$dir" && /usr/bin/time -v go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg") >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      echo "build-binaries: building $name failed; the full log is $log" >&2
      rm -f "$out.tmp"
      exit 1
    fi
    mv "$out.tmp" "$out"
    printf 'build-binaries: %s %s built in %ss, peak memory %s MiB\n' "$name" "$version" "$((SECONDS - start))" \
      "$(awk '/Maximum resident/ {print int($NF/1024)}' "$log")"
  fi
  ln -sfn "$out" "$links/$name"
}

kv=$KUBERNETES_VERSION minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
kube_ld=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ld+=" -X $p.gitVersion=$kv -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
for cmd in kube-apiserver kube-controller-manager kubeadm kubectl; do
  build "$cmd" "$kv" kube "k8s.io/kubernetes/cmd/$cmd" "$kube_ld"
done
# kubeadm of the minor of Kamaji's kubeadm library (v1.33: the previous minor's, built by build-artifacts.sh), which
# lists the tenant control planes' images as Kamaji runs them (the lab inventory's artifacts_tenant_kubeadm_binary).
ln -sfn "$cache/bin/kubeadm-$KUBERNETES_PREVIOUS_VERSION" "$links/kubeadm-kamaji"
build etcd "$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3 ""
helm_ld="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ld+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
done
build helm "$HELM_VERSION" helm helm.sh/helm/v3/cmd/helm "$helm_ld"
# The mirror's registry and crane: pure Go, static, so they also run inside the lab hosts.
CGO_ENABLED=0 build registry "$REGISTRY_VERSION" registry github.com/distribution/distribution/v3/cmd/registry \
  "-X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION"
CGO_ENABLED=0 build crane "$CRANE_VERSION" crane github.com/google/go-containerregistry/cmd/crane ""
