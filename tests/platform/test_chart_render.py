"""The kMetal umbrella chart: helm lint, helm template of the toggle combinations, and the values schema."""

import pytest

import kmetal_platform_helpers as c


@pytest.fixture(scope="module", autouse=True)
def vendored():
    c.ensure_vendored()


def kinds(manifest: str) -> set[str]:
    return {doc["kind"] for doc in c.documents(manifest)}


def test_helm_lint_all_on():
    result = c.helm("lint", str(c.CHART), "--strict", values=c.BASE, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_all_on_renders_every_component_and_the_glue():
    out = c.template(c.BASE).stdout
    found = kinds(out)
    for kind in ["ClusterClass", "KamajiControlPlaneTemplate", "KubevirtClusterTemplate", "KubevirtMachineTemplate",
                 "KubeadmConfigTemplate", "DataStore", "IPAddressPool", "L2Advertisement", "ClusterIssuer",
                 "ProviderNetwork", "Vlan", "Subnet", "NetworkAttachmentDefinition", "KubeVirt", "CDI",
                 "CoreProvider", "BootstrapProvider", "InfrastructureProvider", "ControlPlaneProvider",
                 "DaemonSet", "Deployment", "StatefulSet", "StorageClass"]:
        assert kind in found, kind
    roles = [d for d in c.documents(out) if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "kmetal-cluster-manager"]
    assert roles


@pytest.mark.parametrize("toggle", c.TOGGLES)
def test_each_toggle_off_in_turn(toggle):
    on = c.template(c.BASE).stdout
    values = c.merge(c.BASE, c.dotted(toggle, False))
    result = c.helm("lint", str(c.CHART), values=values, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    off = c.template(values).stdout
    assert len(c.documents(off)) < len(c.documents(on)), f"{toggle}=false removed nothing"


def test_flux_on_renders_source_and_helmrelease():
    oci = c.documents(c.template(c.merge(c.BASE, {"flux": {"enabled": True}})).stdout, glue_only=True)
    assert {"OCIRepository", "HelmRelease"} <= {d["kind"] for d in oci}
    release = next(d for d in oci if d["kind"] == "HelmRelease")
    assert release["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "kmetal"}
    git = c.documents(c.template(c.merge(c.BASE, {"flux": {"enabled": True, "source": {
        "kind": "GitRepository", "url": "https://git.example.com/kmetal.git", "ref": "main"}}})).stdout, glue_only=True)
    release = next(d for d in git if d["kind"] == "HelmRelease")
    assert release["spec"]["chart"]["spec"]["sourceRef"]["kind"] == "GitRepository"


def test_overlay_mode_is_geneve_mtu_9100():
    docs = c.documents(c.template(c.BASE).stdout)
    assert not [d for d in docs if d["kind"] == "ProviderNetwork" and d["metadata"]["name"] == "tenants"]
    config = "\n".join(str(d) for d in docs if d["kind"] in ("Deployment", "DaemonSet"))
    assert "geneve" in config and "9100" in config


def test_vlan_mode_renders_the_tenant_provider_network():
    values = c.merge(c.BASE, {"network": {"kubeOvn": {"mode": "vlan", "vlan": {"interface": "data"}}},
                              "kube-ovn": {"networking": {"networkType": "vlan"}}})
    docs = c.documents(c.template(values).stdout, glue_only=True)
    tenants = [d for d in docs if d["kind"] == "ProviderNetwork" and d["metadata"]["name"] == "tenants"]
    assert tenants and tenants[0]["spec"]["defaultInterface"] == "data"


def test_clusterclass_variables_and_patches():
    docs = c.documents(c.template(c.BASE).stdout, glue_only=True)
    cc = next(d for d in docs if d["kind"] == "ClusterClass")
    assert cc["metadata"] == {**cc["metadata"], "name": "kubevirt-kubeadm", "namespace": "kmetal-capi-providers"}
    assert [v["name"] for v in cc["spec"]["variables"]] == ["controlPlane", "machineSize", "bootstrapConfig", "network"]
    assert cc["spec"]["controlPlane"]["templateRef"]["apiVersion"] == "controlplane.cluster.x-k8s.io/v1alpha2"
    patched = {d["selector"]["kind"] for p in cc["spec"]["patches"] for d in p["definitions"]}
    assert patched == {"KamajiControlPlaneTemplate", "KubevirtMachineTemplate"}
    kct = next(d for d in docs if d["kind"] == "KubevirtClusterTemplate")
    assert kct["metadata"]["annotations"]["cluster.x-k8s.io/managed-by"] == "kamaji"
    sizes = {d["metadata"]["name"] for d in docs if d["kind"] == "KubevirtMachineTemplate"}
    assert sizes == {"kubevirt-kubeadm-small", "kubevirt-kubeadm-medium", "kubevirt-kubeadm-large"}
    vmt = next(d for d in docs if d["kind"] == "KubevirtMachineTemplate")
    dv = vmt["spec"]["template"]["spec"]["virtualMachineTemplate"]["spec"]["dataVolumeTemplates"][0]
    assert dv["spec"]["source"]["registry"]["url"].startswith("docker://")


# ---- values.schema.json and the mirror checks: bad values fail with a clear message ----

BAD = {
    "missing tunnelInterface": ({"network": {"kubeOvn": {"tunnelInterface": None}}}, "missing property 'tunnelInterface'"),
    "empty tunnelInterface": ({"network": {"kubeOvn": {"tunnelInterface": ""}}}, "/network/kubeOvn/tunnelInterface"),
    "pool is a bare address": ({"metallb": {"pools": [{"name": "p", "addresses": ["10.0.0.5"]}]}}, "/metallb/pools/0/addresses/0"),
    "pool is not an address": ({"metallb": {"pools": [{"name": "p", "addresses": ["pool-a"]}]}}, "/metallb/pools/0/addresses/0"),
    "unknown component key": ({"kubevrt": {"enabled": True}}, "additional properties 'kubevrt' not allowed"),
    "unknown network key": ({"network": {"cilium": {"enabled": True}}}, "additional properties 'cilium' not allowed"),
    "unknown glue key": ({"glue": {"sveltos": {"enabled": True}}}, "additional properties 'sveltos' not allowed"),
    "bad tunnel type": ({"network": {"kubeOvn": {"tunnelType": "gre"}}}, "/network/kubeOvn/tunnelType"),
    "bad mode": ({"network": {"kubeOvn": {"mode": "bgp"}}}, "/network/kubeOvn/mode"),
    "bad pod CIDR": ({"network": {"kubeOvn": {"podCidr": "10.16.0.0"}}}, "/network/kubeOvn/podCidr"),
    "mtu too large": ({"network": {"kubeOvn": {"mtu": 9500}}}, "/network/kubeOvn/mtu"),
    "bad flux source": ({"flux": {"source": {"kind": "Bucket"}}}, "/flux/source/kind"),
    "bad machine size": ({"tenants": {"machineSizes": {"tiny": {"cores": 0, "memory": "1Gi", "disk": "1Gi"}}}}, "/tenants/machineSizes/tiny/cores"),
    "mirror disagrees": ({"network": {"kubeOvn": {"tunnelInterface": "data.206"}}}, "kube-ovn.agent.interface"),
    "unknown default size": ({"tenants": {"defaults": {"workerSize": "huge"}}}, "tenants.defaults.workerSize"),
    "vlan mode without interface": ({"network": {"kubeOvn": {"mode": "vlan"}}, "kube-ovn": {"networking": {"networkType": "vlan"}}}, "network.kubeOvn.vlan.interface"),
}


def _drop_nones(value):
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None}
    return value


@pytest.mark.parametrize("case", list(BAD))
def test_bad_values_fail_with_a_clear_message(case):
    extra, message = BAD[case]
    values = _drop_nones(c.merge(c.BASE, extra))
    result = c.template(values, check=False)
    assert result.returncode != 0, f"{case}: rendered"
    assert message in result.stderr, result.stderr
