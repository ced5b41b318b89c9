"""kmetal.platform.cluster_profile against the lab API with Sveltos' real CRDs (addon-controller and libsveltos
v1.14.0): a ClusterProfile for platform-wide add-ons, a Profile per tenant namespace, drift detection only with the
drift-detection manager in the management cluster, and tenant clusters labelled from the inventory. No Sveltos
controller runs on the lab API: that the add-ons reach the tenant clusters (and come back after a tenant deletes
one) is for the platform running on the lab's under cluster."""

import pytest
from kmetal_tasks import bad_input, task
from kubernetes import client
from test_tenant_cluster_module import get_cluster
from test_tenant_fleet import cleanup, fleet, fleet_task, klass  # noqa: F401  (fixtures)

SVELTOS = ("config.projectsveltos.io", "v1beta1")
CHART = {"repositoryURL": "https://kubernetes-sigs.github.io/metrics-server/", "repositoryName": "metrics-server",
         "chartName": "metrics-server/metrics-server", "chartVersion": "3.13.0", "releaseName": "metrics-server",
         "releaseNamespace": "kube-system", "helmChartAction": "Install"}


def addon_controller(k8s, namespace, agent_in_mgmt):
    args = ["--v=5"] + (["--agent-in-mgmt-cluster=true"] if agent_in_mgmt else [])
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "addon-controller"},
            "spec": {"selector": {"matchLabels": {"app": "addon-controller"}}, "replicas": 0,
                     "template": {"metadata": {"labels": {"app": "addon-controller"}},
                                  "spec": {"containers": [{"name": "controller", "image": "docker.io/projectsveltos/addon-controller:v1.14.0", "args": args}]}}}}
    apps = client.AppsV1Api(k8s)
    try:
        apps.delete_namespaced_deployment("addon-controller", namespace)
    except client.ApiException as err:
        if err.status != 404:
            raise
    apps.create_namespaced_deployment(namespace, body)


@pytest.fixture
def cluster_profiles(k8s):
    names = []
    yield names
    for name in names:
        try:
            client.CustomObjectsApi(k8s).delete_cluster_custom_object(*SVELTOS, "clusterprofiles", name)
        except client.ApiException as err:
            if err.status != 404:
                raise


def test_platform_wide_profile_with_drift_detection_in_the_management_cluster(play, k8s, namespace, uniq, cluster_profiles):
    name = "metrics-" + uniq
    cluster_profiles.append(name)
    profile = {"name": name, "cluster_selector": {"app.kubernetes.io/managed-by": "kmetal-platform"}, "helm_charts": [CHART],
               "sveltos_namespace": namespace}
    # Sveltos not installed: stored with a warning
    predicted = play([task("cluster_profile", **profile)], check=True)
    assert predicted[0]["changed"] and predicted.writes == []
    assert any("addon-controller is not in %s" % namespace in w for w in predicted[0].get("warnings", []))
    # the addon-controller without --agent-in-mgmt-cluster: drift detection would run where tenants can delete it
    addon_controller(k8s, namespace, agent_in_mgmt=False)
    refused = play([task("cluster_profile", ignore_errors=True, **profile)])
    assert "sync_mode: Sveltos' addon-controller (%s/addon-controller) runs without --agent-in-mgmt-cluster=true" % namespace in refused[0]["msg"]
    assert "where their admins can delete it (addon-controller#1119)" in refused[0]["msg"] and refused.writes == []
    addon_controller(k8s, namespace, agent_in_mgmt=True)
    run = play([task("cluster_profile", **profile), task("cluster_profile", **profile)])
    assert run[0]["changed"] and run[1]["changed"] is False and len(run.writes) == 1
    live = client.CustomObjectsApi(k8s).get_cluster_custom_object(*SVELTOS, "clusterprofiles", name)
    assert live["spec"]["syncMode"] == "ContinuousWithDriftDetection"
    assert live["spec"]["clusterSelector"] == {"matchLabels": {"app.kubernetes.io/managed-by": "kmetal-platform"}}
    assert live["spec"]["helmCharts"][0]["chartVersion"] == "3.13.0"
    # a change of the charts is written; absent deletes it
    changed = play([task("cluster_profile", **dict(profile, helm_charts=[dict(CHART, chartVersion="3.13.1")]))])
    assert changed[0]["changed"] and changed[0]["diff"]["after"]["spec"]["helmCharts"][0]["chartVersion"] == "3.13.1"
    gone = play([task("cluster_profile", name=name, state="absent"), task("cluster_profile", name=name, state="absent")])
    assert [r["changed"] for r in gone.results] == [True, False]


def test_a_tenants_profile_lives_in_its_namespace(play, k8s, uniq):
    tenant = "pt" + uniq
    ns = "tenant-" + tenant
    core = client.CoreV1Api(k8s)
    args = {"name": "policies", "tenant": tenant, "cluster_selector": {"kmetal.io/env": "prod"},
            "policy_refs": [{"kind": "ConfigMap", "name": "acme-policies"}], "sync_mode": "Continuous"}
    missing = play([task("cluster_profile", ignore_errors=True, **args)])
    assert "the namespace %s does not exist: create the tenant first" % ns in missing[0]["msg"] and missing.writes == []
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        run = play([task("cluster_profile", **args), task("cluster_profile", **args)])
        assert run[0]["changed"] and run[1]["changed"] is False
        live = client.CustomObjectsApi(k8s).get_namespaced_custom_object(*SVELTOS, ns, "profiles", "policies")
        ref = live["spec"]["policyRefs"][0]  # with the CRD's defaults (deploymentType, tier...)
        assert (ref["kind"], ref["name"], ref["namespace"]) == ("ConfigMap", "acme-policies", ns)
        assert live["metadata"]["labels"]["kmetal.io/tenant"] == tenant
    finally:
        core.delete_namespace(ns)


def test_a_foreign_cluster_profile_is_never_taken_over(play, k8s, uniq, cluster_profiles):
    name = "hand-" + uniq
    cluster_profiles.append(name)
    client.CustomObjectsApi(k8s).create_cluster_custom_object(*SVELTOS, "clusterprofiles", {
        "apiVersion": "config.projectsveltos.io/v1beta1", "kind": "ClusterProfile", "metadata": {"name": name},
        "spec": {"clusterSelector": {"matchLabels": {"a": "b"}}, "helmCharts": [CHART]}})
    run = play([task("cluster_profile", ignore_errors=True, name=name, cluster_selector={"a": "b"}, helm_charts=[CHART], sync_mode="Continuous"),
                task("cluster_profile", ignore_errors=True, name=name, state="absent")])
    assert "ClusterProfile %s: name: exists and was not created by kmetal.platform" % name in run[0]["msg"]
    assert "was not created by kmetal.platform: refusing to delete it" in run[1]["msg"] and run.writes == []


BAD = [
    ({"cluster_selector": {}}, "cluster_selector: is empty: a platform-wide profile would match every cluster"),
    ({"helm_charts": [{"chartName": "x"}]}, "helm_charts[0].repositoryURL: is required"),
    ({"helm_charts": [], "policy_refs": []}, "give helm_charts or policy_refs"),
    ({"policy_refs": [{"kind": "Pod", "name": "x"}], "helm_charts": []}, "policy_refs[0].kind: 'Pod' is not one of ConfigMap"),
    ({"tenant": "acme", "policy_refs": [{"kind": "ConfigMap", "name": "x", "namespace": "kube-system"}]},
     "policy_refs[0].namespace: kube-system is not the tenant's namespace tenant-acme"),
    ({"sync_mode": "Always"}, "sync_mode"),
    ({"cluster_selector": {"kmetal.io/env": True}}, "cluster_selector.kmetal.io/env"),
]


def test_bad_input_is_refused_before_any_request(play):
    base = {"name": "p", "cluster_selector": {"kmetal.io/env": "prod"}, "helm_charts": [CHART]}
    cases = [(dict(base, **change), words) for change, words in BAD]
    results, run = bad_input(play, "cluster_profile", cases)
    for (_args, words), result in zip(cases, results):
        assert result.get("failed") and words in result["msg"], (words, result.get("msg"))
    assert run.writes == [] and run.requests == 0


def test_tenant_clusters_carry_labels_from_the_inventory(play, k8s, klass, uniq, cleanup):  # noqa: F811
    tenant = fleet(uniq[:5], 1)[0]
    tenant["clusters"][0]["labels"] = {"kmetal.io/env": "prod", "kmetal.io/profile-tier": "gold"}
    cleanup.append(tenant["name"])
    run = play([fleet_task([tenant], klass), fleet_task([tenant], klass)])
    assert run[0]["changed"] and run[1]["changed"] is False
    labels = get_cluster(k8s, "tenant-" + tenant["name"], "c1")["metadata"]["labels"]
    assert labels["kmetal.io/env"] == "prod" and labels["kmetal.io/tenant"] == tenant["name"]
