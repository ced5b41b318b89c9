#!/usr/bin/env bash
# Fill charts/kmetal/charts/ with the kMetal umbrella chart's real sub-charts, taken from the upstream chart
# sources inside pinned Go modules (the Go module proxy is reachable where Helm repositories are not).
#
#   charts/vendor.sh                 fill charts/kmetal/charts/ (cached under ${KMETAL_CACHE:-~/.cache/kmetal}/charts)
#   charts/vendor.sh --package DIR   also package the umbrella chart (kmetal-<version>.tgz) into DIR: the
#                                    "local directory of packaged charts" an air-gapped site points the
#                                    platform role at (platform_chart_source: local)
#   charts/vendor.sh --list          print the table
#
# Every module is pinned by version and by its go.sum hash (h1:): a module whose hash differs is refused.
# Components with no upstream chart source in a Go module (KubeVirt, CDI, Multus, kamaji-addon-ovn) are not
# sub-charts: see charts/kmetal/README.md. The Flux controllers publish no chart either: their Deployments are the
# kMetal chart's own templates, and their CRDs (config/crd/bases of the pinned modules) become the small sub-charts
# flux-source-crds and flux-helm-crds, so that the CRDs go wherever the other sub-charts' CRDs go.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${KMETAL_CACHE:-$HOME/.cache/kmetal}/charts
dest=$here/kmetal/charts

# chart dir name | Go module | version | go.sum hash | chart path inside the module
TABLE=$(cat <<'TABLE_END'
kube-ovn-v2|github.com/kubeovn/kube-ovn|v1.16.2|h1:ak8LHclz9obQtxH3j5EHn/kHRCnoErYb/Mjh82W4a2I=|charts/kube-ovn-v2
kamaji|github.com/clastix/kamaji|v1.0.1-0.20250428170502-994ca7687d0f|h1:ISUSwDJ98eX3b+dSFhsBbrTNZooHfwNtfdtxptlcius=|charts/kamaji
metallb|go.universe.tf/metallb|v0.15.2|h1:r7KDgJtk3KZe3qb36zRVrVCYHxLR03nPGT+qFXOomJM=|charts/metallb
cert-manager|github.com/cert-manager/cert-manager|v1.19.5|h1:g/R078N+wd5NFd2EUEAf4seaW8vhPek/lLcTErZonaA=|deploy/charts/cert-manager
cluster-api-operator|sigs.k8s.io/cluster-api-operator|v0.29.0|h1:i8j3auZqWlbiTiMnHqzyFlppHAfzZuqYYlBLDD3cNe4=|hack/charts/cluster-api-operator
flannel|github.com/flannel-io/flannel|v0.28.10|h1:jt+uW6XVV01MBb3YFahG7Ue9UE3W6zlNlJMf3JtdcXI=|chart/kube-flannel
local-path-provisioner|github.com/rancher/local-path-provisioner|v0.0.30|h1:OkiuofkCSscddl7tma/B9Ox1wu+JEVSrP7IcZI65Ggo=|deploy/chart/local-path-provisioner
flux-source-crds|github.com/fluxcd/source-controller|v1.9.6|h1:nG534/bI6nVpyHra7ONAk6xDB3xPsVT+EOLHZHXPrrc=|config/crd/bases
flux-helm-crds|github.com/fluxcd/helm-controller|v1.6.2|h1:cEirkQjLFF721EomwtH5fHuhpiYCW9HkAje1HTzCTsM=|config/crd/bases
TABLE_END
)

die() { echo "vendor.sh: $*" >&2; exit 1; }

package_dir=""
case "${1:-}" in
  --list) echo "$TABLE" | column -t -s '|'; exit 0 ;;
  --package) package_dir=${2:?--package needs a directory} ;;
  "") ;;
  *) die "unknown argument $1 (use --list or --package DIR)" ;;
esac

command -v go >/dev/null || die "go is not on PATH (the sub-charts come from the Go module proxy)"

# Post-processing where an upstream chart source is not a chart yet (its release tooling fills it in).
# kustomize, as lab/build-artifacts.sh builds it from the Go module proxy (or one on PATH).
kustomize_bin() {
  local built
  built=$(ls "${KMETAL_CACHE:-$HOME/.cache/kmetal}"/bin/kustomize-v* 2>/dev/null | tail -1)
  if [ -n "$built" ]; then echo "$built"; elif command -v kustomize >/dev/null; then command -v kustomize
  else die "kustomize is needed to vendor the Cluster API operator's chart: run make artifacts (it builds it) or put kustomize on PATH"; fi
}

fixup() {
  local name=$1 version=$2 dir=$3 moddir=$4
  case "$name" in
    cert-manager)
      # The release tool renders Chart.template.yaml into Chart.yaml with the version.
      sed -e "s/^version: .*/version: ${version}/" -e "s/^appVersion: .*/appVersion: ${version}/" \
        -e 's/{{IS_PRERELEASE}}/false/' "$dir/Chart.template.yaml" >"$dir/Chart.yaml"
      rm -f "$dir/Chart.template.yaml" "$dir/README.template.md"
      ;;
    kamaji)
      # The source chart carries version 0.0.0 and appVersion v0.0.0 (the image tag); the release stamps them. Here the
      # module's pseudo-version, the tag lab/build-artifacts.sh gives the image (lab/versions.env KAMAJI_VERSION).
      sed -i -e "s/^version: .*/version: ${version#v}/" -e "s/^appVersion: .*/appVersion: ${version}/" "$dir/Chart.yaml"
      ;;
    flux-source-crds|flux-helm-crds)
      # Only CRDs: a chart around them, each kept on uninstall (objects of these kinds outlive the release).
      printf 'apiVersion: v2\nname: %s\ndescription: The CRDs of %s (config/crd/bases)\ntype: application\nversion: %s\nappVersion: "%s"\n' \
        "$name" "${moddir##*/}" "${version#v}" "$version" >"$dir/Chart.yaml"
      mkdir -p "$dir/templates"
      for crd in "$dir"/*.yaml; do
        [ "$crd" = "$dir/Chart.yaml" ] && continue
        sed '0,/^  annotations:$/s//  annotations:\n    helm.sh\/resource-policy: keep/' "$crd" >"$dir/templates/${crd##*/}"
        rm "$crd"
      done
      ;;
    cluster-api-operator)
      # The source chart carries version 0.0.0; the release stamps the tag, and adds the operator's CRDs, RBAC,
      # webhooks and serving certificate: `make release-chart` is `kustomize build config/chart` into the templates.
      sed -i -e "s/^version: .*/version: ${version#v}/" -e "s/^appVersion: .*/appVersion: \"${version}\"/" "$dir/Chart.yaml"
      local kustomize
      kustomize=$(kustomize_bin) || exit 1  # kustomize_bin said why
      "$kustomize" build "$moddir/config/chart" >"$dir/templates/operator-components.yaml" \
        || die "kustomize build $moddir/config/chart failed"
      ;;
  esac
}

fetch() {
  local name=$1 module=$2 version=$3 sum=$4 path=$5
  # r2: the second way of post-processing (the operator chart's generated templates); a new one re-vendors
  local cached=$cache/$name-$version-r2
  if [ ! -f "$cached/Chart.yaml" ]; then
    local json moddir got tmp
    json=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$module@$version") \
      || die "go mod download $module@$version failed"
    moddir=$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    got=$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
    [ "$got" = "$sum" ] || die "$module@$version: go.sum hash $got, pinned $sum"
    [ -f "$moddir/$path/Chart.yaml" ] || [ -f "$moddir/$path/Chart.template.yaml" ] || [ "${name%-crds}" != "$name" ] \
      || die "$module@$version has no chart at $path"
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.$name.XXXXXX")
    cp -R "$moddir/$path/." "$tmp/"
    chmod -R u+w "$tmp"
    fixup "$name" "$version" "$tmp" "$moddir"
    rm -rf "$cached"
    mv "$tmp" "$cached"
  fi
  rm -rf "${dest:?}/$name"
  cp -R "$cached" "$dest/$name"
  echo "vendor.sh: $name $version from $module"
}

mkdir -p "$dest"
while IFS='|' read -r name module version sum path; do
  fetch "$name" "$module" "$version" "$sum" "$path"
done <<<"$TABLE"

if [ -n "$package_dir" ]; then
  command -v helm >/dev/null || die "helm is not on PATH (needed for --package)"
  mkdir -p "$package_dir"
  helm package "$here/kmetal" --destination "$package_dir"
fi
