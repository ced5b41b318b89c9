#!/usr/bin/env bash
# Generates the execution environment's build context without a container engine:
#   1. the collection tarball (ansible-galaxy collection build) -> build/ee/kmetal-platform.tar.gz
#   2. helm, kubectl, kubeadm from the lab's build cache ($KMETAL_CACHE/bin, lab/versions.env) -> build/ee/tools/
#   3. ansible-builder create -> build/ee/context (Containerfile and _build/)
# Then, where podman or docker is: ansible-builder build -f execution-environment.yml --context build/ee/context
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"
cache=${KMETAL_CACHE:-$HOME/.cache/kmetal}
out=${EE_OUT:-$repo/build/ee}
# shellcheck source=/dev/null
source lab/versions.env
rm -rf "$out"
mkdir -p "$out/tools" "$out/collection"
ansible-galaxy collection build --force --output-path "$out/collection" collections/ansible_collections/kmetal/platform >/dev/null
cp "$out"/collection/kmetal-platform-*.tar.gz "$out/kmetal-platform.tar.gz"
for tool in "helm:$HELM_VERSION" "kubectl:$KUBERNETES_VERSION" "kubeadm:$KUBERNETES_VERSION"; do
  name=${tool%%:*} version=${tool#*:}
  bin="$cache/bin/$name-$version"
  if [ ! -x "$bin" ]; then
    echo "ee-context: $bin is missing: run \`make binaries\` first" >&2
    exit 1
  fi
  # The EE base image has glibc 2.34: a binary that needs a newer one would not start there.
  need=$(objdump -T "$bin" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 || true)
  if [ -n "$need" ] && [ "$(printf '%s\n' "$need" GLIBC_2.34 | sort -V | tail -1)" != GLIBC_2.34 ]; then
    echo "ee-context: $bin needs $need, newer than the base image's GLIBC_2.34: rebuild it with CGO_ENABLED=0" >&2
    exit 1
  fi
  install -m 0755 "$bin" "$out/tools/$name"
done
ansible-builder create --file execution-environment.yml --context "$out/context" --output-filename Containerfile -v 1
echo "ee-context: build context in ${out#"$repo"/}/context"
