# -*- coding: utf-8 -*-
"""Pure logic of the artifact manifest: the image walker, the file table and its checksum refusal, kubeadm checks."""

from __future__ import annotations

import pytest

from ansible_collections.kmetal.platform.plugins.module_utils import _artifacts as art

SHA = "a" * 64
VERSIONS = {"crictl": "v1.34.0", "cni_plugins": "v1.9.1", "containerd": "2.2.3", "runc": "v1.3.3"}
BASES = {k: f"https://mirror.example/files/{k}" for k in ("kubernetes", "crictl", "cni_plugins", "containerd", "runc")}


def sums(version_of):
    return {name: {"amd64": {version_of(name): f"sha256:{SHA}"}} for name in art.FILES}


def version_of(name):
    return "v1.34.4" if art.FILES[name][2] == "kubernetes" else VERSIONS[art.FILES[name][2]]


RENDERED = """---
# Source: kmetal/charts/flannel/templates/daemonset.yaml
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-flannel-ds}
spec:
  template:
    spec:
      initContainers:
        - {name: install-cni-plugin, image: "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"}
      containers:
        - {name: kube-flannel, image: "ghcr.io/flannel-io/flannel:v0.28.10"}
      ephemeralContainers:
        - {name: debug, image: busybox}
---
# Source: kmetal/charts/kamaji/templates/datastore.yaml
apiVersion: kamaji.clastix.io/v1alpha1
kind: EtcdCluster
metadata: {name: etcd}
spec:
  backup:
    image: quay.io/coreos/etcd:v3.5.6
---
# Source: kmetal/templates/glue/capi-providers.yaml
apiVersion: operator.cluster.x-k8s.io/v1alpha2
kind: CoreProvider
metadata: {name: cluster-api}
spec: {version: v1.13.6}
---
# Source: kmetal/templates/glue/clusterclass.yaml
apiVersion: controlplane.cluster.x-k8s.io/v1alpha1
kind: KamajiControlPlaneTemplate
metadata: {name: cp}
spec:
  template:
    spec:
      addons:
        konnectivity:
          server: {port: 8132, image: registry.k8s.io/kas-network-proxy/proxy-server, version: v0.34.0}
          agent: {image: "registry.k8s.io/kas-network-proxy/proxy-agent:v0.33.0", version: v0.34.0}
---
# Source: kmetal/templates/glue/clusterclass.yaml
apiVersion: infrastructure.cluster.x-k8s.io/v1alpha1
kind: KubevirtMachineTemplate
metadata: {name: small}
spec:
  template:
    spec:
      virtualMachineTemplate:
        spec:
          dataVolumeTemplates:
            - spec: {source: {registry: {url: "docker://quay.io/capk/ubuntu-2404-container-disk:v1.34.1"}}}
"""


def test_the_walker_finds_init_ephemeral_addon_and_custom_resource_images_with_their_sub_chart():
    images = art.chart_images(RENDERED, "kmetal", {"CoreProvider/cluster-api": "registry.k8s.io/cluster-api/cluster-api-controller"})
    assert images == [
        {"ref": "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3", "source": "chart:flannel", "pulled_by": "containerd"},
        {"ref": "ghcr.io/flannel-io/flannel:v0.28.10", "source": "chart:flannel", "pulled_by": "containerd"},
        {"ref": "docker.io/library/busybox:latest", "source": "chart:flannel", "pulled_by": "containerd"},
        {"ref": "quay.io/coreos/etcd:v3.5.6", "source": "chart:kamaji", "pulled_by": "containerd"},
        {"ref": "registry.k8s.io/cluster-api/cluster-api-controller:v1.13.6", "source": "runtime:capi-provider CoreProvider/cluster-api"},
        # Kamaji's addon shape: an untagged image beside its version; a tagged image keeps its own tag.
        {"ref": "registry.k8s.io/kas-network-proxy/proxy-server:v0.34.0", "source": "chart:kmetal", "pulled_by": "containerd"},
        {"ref": "registry.k8s.io/kas-network-proxy/proxy-agent:v0.33.0", "source": "chart:kmetal", "pulled_by": "containerd"},
        {"ref": "quay.io/capk/ubuntu-2404-container-disk:v1.34.1", "source": "chart:kmetal", "pulled_by": "cdi"},
    ]


@pytest.mark.parametrize("ref, exact", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("rancher/local-path-provisioner:v0.0.30", "docker.io/rancher/local-path-provisioner:v0.0.30"),
    ("registry.example:5000/a/b:1", "registry.example:5000/a/b:1"),
    ("quay.io/x/y@sha256:" + SHA, "quay.io/x/y@sha256:" + SHA),
])
def test_references_are_made_exact(ref, exact):
    assert art.normalize_ref(ref) == exact


def test_every_file_gets_its_upstream_path_url_and_sum():
    files = art.compute_files(["amd64"], "v1.34.4", VERSIONS, BASES, sums(version_of))
    by_name = {f["name"]: f for f in files}
    assert by_name["kubelet"]["path"] == "v1.34.4/bin/linux/amd64/kubelet"
    assert by_name["crictl"]["path"] == "v1.34.0/crictl-v1.34.0-linux-amd64.tar.gz"
    assert by_name["cni_plugins"]["path"] == "v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz"
    assert by_name["containerd"]["path"] == "v2.2.3/containerd-2.2.3-linux-amd64.tar.gz"
    assert by_name["runc"]["url"] == "https://mirror.example/files/runc/v1.3.3/runc.amd64"
    assert all(f["sha256"] == SHA for f in files) and len(files) == 7


def test_a_version_without_a_checksum_is_refused_naming_it():
    table = sums(version_of)
    del table["crictl"]["amd64"]["v1.34.0"]
    with pytest.raises(art.ArtifactError) as err:
        art.compute_files(["amd64"], "v1.34.4", VERSIONS, BASES, table)
    assert "kmetal_download_checksums.crictl.amd64.v1.34.0" in str(err.value)
    # The lab, whose sums come later from a generated file, may list it without.
    files = art.compute_files(["amd64"], "v1.34.4", VERSIONS, BASES, table, require_checksums=False)
    assert [f["sha256"] for f in files if f["name"] == "crictl"] == [None]


def test_an_unknown_architecture_and_a_bad_sum_are_refused_together():
    table = sums(version_of)
    table["runc"]["amd64"]["v1.3.3"] = "md5:123"
    with pytest.raises(art.ArtifactError) as err:
        art.compute_files(["amd64", "sparc"], "v1.34.4", VERSIONS, BASES, table)
    assert "architectures: sparc not supported" in str(err.value)
    assert "kmetal_download_checksums.runc.amd64.v1.3.3: 'md5:123' is not a sha256" in str(err.value)


def fake_kubeadm(version, images="registry.k8s.io/kube-apiserver:v1.34.4\nregistry.k8s.io/etcd:3.6.5-0\n", rc=0):
    def run(argv):
        if argv[1] == "version":
            return rc, version, "" if rc == 0 else "no such file"
        return 0, images, ""
    return run


def test_a_missing_or_too_old_kubeadm_is_refused_naming_the_field():
    with pytest.raises(art.ArtifactError, match="kubeadm_binary: .* does not run"):
        art.kubeadm_images(fake_kubeadm("", rc=127), "/nope/kubeadm", "v1.34.4", "registry.k8s.io")
    with pytest.raises(art.ArtifactError, match=r"kubeadm_binary: kubeadm is v1.33.2, too old .* \(needs >= v1.34\)"):
        art.kubeadm_images(fake_kubeadm("v1.33.2"), "kubeadm", "v1.34.4", "registry.k8s.io")
    assert [i["ref"] for i in art.kubeadm_images(fake_kubeadm("v1.34.4"), "kubeadm", "v1.34.4", "registry.k8s.io")] == [
        "registry.k8s.io/kube-apiserver:v1.34.4", "registry.k8s.io/etcd:3.6.5-0"]


def test_enabled_sub_charts_follow_their_conditions():
    chart = {"dependencies": [{"name": "flannel", "version": "v0.28.10", "condition": "network.flannel.enabled"},
                              {"name": "kube-ovn-v2", "alias": "kube-ovn", "version": "v1.16.2", "condition": "network.kubeOvn.enabled"}]}
    values = {"network": {"flannel": {"enabled": True}, "kubeOvn": {"enabled": False}}}
    assert art.enabled_subcharts(chart, values) == [{"name": "flannel", "version": "v0.28.10"}]
