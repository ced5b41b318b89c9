"""The kMetal umbrella chart: helm lint, helm template of the toggle combinations, and the values schema."""

import re

import pytest

import kmetal_platform_helpers as c


@pytest.fixture(scope="module", autouse=True)
def vendored():
    c.ensure_vendored()


ALL_ON = c.merge(c.BASE, {"flux": {"enabled": True}})


@pytest.fixture(scope="module")
def all_on():
    return c.template(ALL_ON).stdout


def kinds(manifest: str) -> set[str]:
    return {doc["kind"] for doc in c.documents(manifest)}


def test_helm_lint_all_on():
    result = c.helm("lint", str(c.CHART), "--strict", values=ALL_ON, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_helm_lint_all_off():
    values = c.BASE
    for toggle in c.TOGGLES:
        values = c.merge(values, c.dotted(toggle, False))
    result = c.helm("lint", str(c.CHART), "--strict", values=values, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_all_on_renders_every_component_and_the_glue(all_on):
    out = all_on
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
def test_each_toggle_off_in_turn(toggle, all_on):
    off = c.template(c.merge(ALL_ON, c.dotted(toggle, False))).stdout
    assert off.count("\n---") < all_on.count("\n---"), f"{toggle}=false removed nothing"


FLUX_CRDS = {"helmreleases.helm.toolkit.fluxcd.io", "ocirepositories.source.toolkit.fluxcd.io", "gitrepositories.source.toolkit.fluxcd.io",
             "helmcharts.source.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io", "buckets.source.toolkit.fluxcd.io",
             "externalartifacts.source.toolkit.fluxcd.io"}


def test_flux_on_renders_the_controllers_and_their_crds_but_no_source_before_the_hand_over():
    docs = c.documents(c.template(c.merge(c.BASE, {"flux": {"enabled": True}})).stdout)
    named = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for name in ("source-controller", "helm-controller"):
        assert {("Deployment", name), ("ServiceAccount", name), ("Role", name + "-leader-election"),
                ("RoleBinding", name + "-leader-election")} <= named
    assert ("Service", "source-controller") in named  # where helm-controller fetches artifacts
    crds = {d["metadata"]["name"]: d for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert FLUX_CRDS <= set(crds)  # in templates: the role's CRD step applies them, helm upgrades them
    assert crds["helmreleases.helm.toolkit.fluxcd.io"]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not {"OCIRepository", "HelmRelease"} & {d["kind"] for d in docs}  # the role's until it hands over
    helm_binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding" and d["metadata"]["name"] == "kmetal-flux-helm-controller")
    assert helm_binding["subjects"] == [{"kind": "ServiceAccount", "name": "helm-controller", "namespace": "kmetal-flux"}]
    off = c.documents(c.template(c.BASE).stdout)
    assert not FLUX_CRDS & {d["metadata"]["name"] for d in off if d["kind"] == "CustomResourceDefinition"}


def test_flux_controllers_run_with_upstreams_args_and_the_pinned_images():
    docs = c.documents(c.template(c.merge(c.BASE, {"flux": {"enabled": True}})).stdout)
    deploys = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"}
    source, helm = deploys["source-controller"]["containers"][0], deploys["helm-controller"]["containers"][0]
    assert source["image"] == "ghcr.io/fluxcd/source-controller:v1.9.6" and helm["image"] == "ghcr.io/fluxcd/helm-controller:v1.6.2"
    assert "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local." in source["args"]
    assert "--storage-path=/data" in source["args"] and "--watch-all-namespaces" in helm["args"]
    for pod, container in ((deploys["source-controller"], source), (deploys["helm-controller"], helm)):
        assert container["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
        assert pod["serviceAccountName"] in ("source-controller", "helm-controller")


def test_flux_hand_over_renders_the_pinned_source_with_the_registry_ca_and_the_helmrelease():
    digest = "sha256:" + "ab" * 32
    oci = c.documents(c.template(c.merge(c.BASE, {"flux": {"enabled": True, "reconcile": True, "source": {
        "url": "oci://198.18.0.1:5000/kmetal/charts/kmetal", "ref": "0.1.0+0123456789ab", "digest": digest,
        "caBundle": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"}}})).stdout, glue_only=True)
    source = next(d for d in oci if d["kind"] == "OCIRepository")
    assert source["spec"]["ref"] == {"tag": "0.1.0_0123456789ab", "digest": digest}  # helm's tag for a + version
    assert source["spec"]["certSecretRef"] == {"name": "kmetal-registry-ca"} and "insecure" not in source["spec"]
    secret = next(d for d in oci if d["kind"] == "Secret" and d["metadata"]["name"] == "kmetal-registry-ca")
    assert "BEGIN CERTIFICATE" in secret["stringData"]["ca.crt"]
    release = next(d for d in oci if d["kind"] == "HelmRelease")
    assert release["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "kmetal"}
    assert release["spec"]["releaseName"] == "kmetal" and release["spec"]["timeout"] == "15m"
    # one of the release's own objects: helm's wait would wait for it while it reconciles
    assert release["spec"]["upgrade"]["disableWait"] and release["spec"]["install"]["disableWait"]
    assert release["spec"]["upgrade"]["crds"] == "Skip"  # the role applies the CRDs before it publishes a chart
    assert release["spec"]["valuesFrom"] == [{"kind": "ConfigMap", "name": "kmetal-values", "valuesKey": "values.yaml"}]
    git = c.documents(c.template(c.merge(c.BASE, {"flux": {"enabled": True, "reconcile": True, "source": {
        "kind": "GitRepository", "url": "https://git.example.com/kmetal.git", "ref": "main"}}})).stdout, glue_only=True)
    release = next(d for d in git if d["kind"] == "HelmRelease")
    assert release["spec"]["chart"]["spec"]["sourceRef"]["kind"] == "GitRepository"
    assert not [d for d in git if d["kind"] == "Secret"]  # no CA given: the system roots
    # written resumed unless the role's own hand-over upgrade asks for it suspended (helm-controller's upgrade from the
    # values keeps suspend: false, so the role's resume is not undone and redone on every run)
    assert release["spec"]["suspend"] is False
    held = c.documents(c.template(c.merge(c.BASE, {"flux": {"enabled": True, "reconcile": True, "suspend": True, "source": {
        "kind": "GitRepository", "url": "https://git.example.com/kmetal.git", "ref": "main"}}})).stdout, glue_only=True)
    assert next(d for d in held if d["kind"] == "HelmRelease")["spec"]["suspend"] is True


def test_overlay_mode_is_geneve_mtu_9100(all_on):
    docs = c.documents(all_on)
    assert not [d for d in docs if d["kind"] == "ProviderNetwork" and d["metadata"]["name"] == "tenants"]
    config = "\n".join(str(d) for d in docs if d["kind"] in ("Deployment", "DaemonSet"))
    assert "geneve" in config and "9100" in config


def test_vlan_mode_renders_the_tenant_provider_network():
    values = c.merge(c.BASE, {"network": {"kubeOvn": {"mode": "vlan", "vlan": {"interface": "data"}}},
                              "kube-ovn": {"networking": {"networkType": "vlan"}}})
    docs = c.documents(c.template(values).stdout, glue_only=True)
    tenants = [d for d in docs if d["kind"] == "ProviderNetwork" and d["metadata"]["name"] == "tenants"]
    assert tenants and tenants[0]["spec"]["defaultInterface"] == "data"


def test_clusterclass_variables_and_patches(all_on):
    docs = c.documents(all_on, glue_only=True)
    cc = next(d for d in docs if d["kind"] == "ClusterClass")
    assert cc["metadata"] == {**cc["metadata"], "name": "kubevirt-kubeadm", "namespace": "kmetal-capi-providers"}
    assert [v["name"] for v in cc["spec"]["variables"]] == ["controlPlane", "machineSize", "bootstrapConfig", "network"]
    assert cc["spec"]["controlPlane"]["templateRef"]["apiVersion"] == "controlplane.cluster.x-k8s.io/v1alpha1"
    patched = {d["selector"]["kind"] for p in cc["spec"]["patches"] for d in p["definitions"]}
    assert patched == {"KamajiControlPlaneTemplate", "KubevirtMachineTemplate"}
    kct = next(d for d in docs if d["kind"] == "KubevirtClusterTemplate")
    assert kct["metadata"]["annotations"]["cluster.x-k8s.io/managed-by"] == "kamaji"
    sizes = {d["metadata"]["name"] for d in docs if d["kind"] == "KubevirtMachineTemplate"}
    assert sizes == {"kubevirt-kubeadm-small", "kubevirt-kubeadm-medium", "kubevirt-kubeadm-large"}
    vmt = next(d for d in docs if d["kind"] == "KubevirtMachineTemplate")
    dv = vmt["spec"]["template"]["spec"]["virtualMachineTemplate"]["spec"]["dataVolumeTemplates"][0]
    assert dv["spec"]["source"]["registry"]["url"].startswith("docker://")
    # Cluster API's webhook refuses a patch path into an array element (seen on the lab's real controllers)
    paths = [j["path"] for p in cc["spec"]["patches"] for d in p["definitions"] for j in d["jsonPatches"]]
    assert not [p for p in paths if re.search(r"/[0-9]+(/|$)", p)], paths


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
    "flux digest not sha256": ({"flux": {"source": {"digest": "latest"}}}, "/flux/source/digest"),
    "bad machine size": ({"tenants": {"machineSizes": {"tiny": {"cores": 0, "memory": "1Gi", "disk": "1Gi"}}}}, "/tenants/machineSizes/tiny/cores"),
    "mirror disagrees": ({"network": {"kubeOvn": {"tunnelInterface": "data.206"}}}, "kube-ovn.agent.interface"),
    "DataStore name mirror disagrees": ({"glue": {"dataStore": {"name": "other"}}}, "kamaji.defaultDatastoreName"),
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


def test_clusterclass_patch_template_renders_the_seed_variables(tmp_path):
    """The control-plane patch is a Go text/template with sprig, the engine of both CAPI's inline patches and
    Helm's tpl: render it through helm with the seed's variables, and with the optional network left out.
    CACPK v0.15.2 (v1alpha1) has one address, network.serviceAddress (the control-plane endpoint workers join):
    the server address when it is an IP, else the VIP; the certificate names both."""
    import yaml

    (tmp_path / "templates").mkdir()
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: patch\nversion: 0.1.0\n")
    (tmp_path / "p.tmpl").write_text((c.CHART / "files" / "patches" / "control-plane-network.tmpl").read_text())
    (tmp_path / "templates" / "out.yaml").write_text('out: |\n{{ tpl (.Files.Get "p.tmpl") .Values | indent 2 }}\n')

    def render(variables):
        return yaml.safe_load(yaml.safe_load(c.helm("template", "p", str(tmp_path), values=variables).stdout)["out"])

    seed = {"controlPlane": {"dataStoreName": "default", "network": {
        "certSANs": ["api.acme.example"], "serviceAddress": "198.18.1.201", "serviceType": "LoadBalancer"}},
        "bootstrapConfig": {"serverAddress": "198.18.1.201"}}
    assert render(seed) == {"serviceType": "LoadBalancer", "serviceAddress": "198.18.1.201",
                            "serviceAnnotations": {"metallb.io/loadBalancerIPs": "198.18.1.201"},
                            "certSANs": ["api.acme.example", "198.18.1.201"]}
    # No VIP: the LoadBalancer gets the server address, so that the Service answers where the endpoint is advertised
    # (the real controllers showed MetalLB picking another pool address otherwise).
    bare = {"controlPlane": {"dataStoreName": "default"}, "bootstrapConfig": {"serverAddress": "10.0.0.5"}}
    assert render(bare) == {"serviceType": "LoadBalancer", "serviceAddress": "10.0.0.5",
                            "serviceAnnotations": {"metallb.io/loadBalancerIPs": "10.0.0.5"}, "certSANs": ["10.0.0.5"]}
    node_port = {"controlPlane": {"network": {"serviceType": "NodePort"}}, "bootstrapConfig": {"serverAddress": "10.0.0.5"}}
    assert "serviceAnnotations" not in render(node_port)
    # Workers reach the VIP through another IP (NAT): that IP is the endpoint, MetalLB still gets the VIP.
    nat = {"controlPlane": {"network": {"serviceAddress": "198.18.1.201"}}, "bootstrapConfig": {"serverAddress": "203.0.113.7"}}
    assert render(nat) == {"serviceType": "LoadBalancer", "serviceAddress": "203.0.113.7",
                           "serviceAnnotations": {"metallb.io/loadBalancerIPs": "198.18.1.201"},
                           "certSANs": ["203.0.113.7", "198.18.1.201"]}
    # A DNS name cannot be the advertise address: the VIP is the endpoint, the name is in the certificate.
    named = {"controlPlane": {"network": {"serviceAddress": "198.18.1.201"}}, "bootstrapConfig": {"serverAddress": "api.acme.example"}}
    assert render(named) == {"serviceType": "LoadBalancer", "serviceAddress": "198.18.1.201",
                             "serviceAnnotations": {"metallb.io/loadBalancerIPs": "198.18.1.201"},
                             "certSANs": ["api.acme.example", "198.18.1.201"]}
    assert render({"controlPlane": {}, "bootstrapConfig": {"serverAddress": "fd00::5"}})["serviceAddress"] == "fd00::5"
