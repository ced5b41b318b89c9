"""kmetal.platform.tenant through ansible-playbook against the lab API: lifecycle, check mode, diff, bad input, safety."""

import pytest
from kmetal_tasks import bad_input, task
from kubernetes import client


def namespace_exists(k8s, name):
    try:
        client.CoreV1Api(k8s).read_namespace(name)
        return True
    except client.ApiException as err:
        if err.status == 404:
            return False
        raise


def test_tenant_lifecycle(play, k8s, uniq):
    name = "acme-%s" % uniq
    ns = "tenant-" + name
    args = {"name": name, "quota": {"cpu": "8", "memory": "16Gi", "tenant_control_planes": 3}, "admins": {"users": ["alice"], "groups": ["ops"]}}

    # check mode predicts the creation and writes nothing
    predicted = play([task("tenant", **args)], check=True)
    assert predicted[0]["changed"] is True and not predicted[0].get("failed")
    assert predicted.writes == []
    assert not namespace_exists(k8s, ns)

    # create, re-run (no change, reads only), change (a true diff), re-run
    changed_quota = dict(args, quota=dict(args["quota"], cpu="16"))
    run = play([task("tenant", **args), task("tenant", **args), task("tenant", check_mode=True, **changed_quota),
                task("tenant", **changed_quota), task("tenant", **changed_quota)])
    create, again, predicted_change, change, settled = run.results
    assert create["changed"] is True and create["namespace"] == ns
    assert [o["kind"] for o in create["objects"]] == ["Namespace", "ResourceQuota", "LimitRange", "RoleBinding"]
    assert again["changed"] is False and again["api_requests"] == 4
    assert predicted_change["changed"] is True
    assert change["changed"] is True
    quota_diff = [d for d in change["diff"] if d["before_header"].startswith("ResourceQuota")][0]
    assert quota_diff["before"]["spec"]["hard"]["requests.cpu"] == "8" and quota_diff["after"]["spec"]["hard"]["requests.cpu"] == "16"
    assert [d["before_header"] for d in change["diff"]] == ["ResourceQuota %s/kmetal-tenant-quota" % ns]
    assert settled["changed"] is False
    rq = client.CoreV1Api(k8s).read_namespaced_resource_quota("kmetal-tenant-quota", ns)
    assert rq.spec.hard == {"requests.cpu": "16", "requests.memory": "16Gi", "count/tenantcontrolplanes.kamaji.clastix.io": "3"}
    rb = client.RbacAuthorizationV1Api(k8s).read_namespaced_role_binding("kmetal-tenant-admins", ns)
    assert rb.role_ref.name == "kmetal-cluster-manager" and {s.name for s in rb.subjects} == {"alice", "ops"}
    # the only writes were the create (4 applies) and the quota change (1 apply)
    assert len(run.writes) == 5 and all(w["verb"] == "patch" for w in run.writes)

    # a cluster in the namespace: absent refuses without force; check mode predicts; force deletes; gone again: no change
    client.CustomObjectsApi(k8s).create_namespaced_custom_object("cluster.x-k8s.io", "v1beta2", ns, "clusters", {
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": "c1"},
        "spec": {"topology": {"classRef": {"name": "kubevirt-kubeadm"}, "version": "v1.34.1"}}})
    gone = play([task("tenant", name=name, state="absent", ignore_errors=True),
                 task("tenant", name=name, state="absent", force=True, check_mode=True),
                 task("tenant", name=name, state="absent", force=True, wait=True, wait_timeout=90),
                 task("tenant", name=name, state="absent")])
    refused, predicted_delete, delete, already = gone.results
    assert refused["failed"] and "refusing to delete the tenant while it still has clusters ['c1']" in refused["msg"] and "force: true" in refused["msg"]
    assert predicted_delete["changed"] is True
    assert delete["changed"] is True and delete["clusters"] == ["c1"]
    assert already["changed"] is False
    assert [w["verb"] for w in gone.writes] == ["delete"]
    assert not namespace_exists(k8s, ns)


BAD = [
    ({"name": "Acme"}, "name: 'Acme' is not a valid name"),
    ({"name": "a" * 57}, "at most 56"),
    ({"name": "acme_x"}, "DNS-1123"),
    ({"name": "ok", "namespace": "Bad NS"}, "namespace:"),
    ({"name": "ok", "quota": {"cpu": "lots"}}, "quota.cpu: 'lots' is not a Kubernetes quantity"),
    ({"name": "ok", "quota": {"memory": "16GB"}}, "quota.memory"),
    ({"name": "ok", "quota": {"tenant_control_planes": -2}}, "quota.tenant_control_planes"),
    ({"name": "ok", "limits": {"default_cpu": "1 core"}}, "limits.default_cpu"),
    ({"name": "ok", "labels": {"bad key!": "x"}}, "labels.bad key!"),
    ({"name": "ok", "labels": {"team": "has spaces"}}, "not a valid label value"),
    ({"name": "ok", "admins": {"users": [""]}}, "admins.users[0]"),
    ({"name": "ok", "wait_timeout": 0}, "wait_timeout"),
    ({"name": "ok", "state": "gone"}, "value of state must be one of"),
    ({"name": "ok", "cluster_role": "Not_A_Role"}, "cluster_role"),
]


def test_tenant_bad_input_fails_before_any_write(play, uniq):
    cases = [(dict(args, name=args["name"] + "-" + uniq if args["name"] == "ok" else args["name"]), words) for args, words in BAD]
    results, run = bad_input(play, "tenant", cases)
    for (args, words), result in zip(cases, results):
        assert result.get("failed"), args
        assert words in result["msg"], (words, result["msg"])
    assert run.writes == []
    assert run.requests == 0  # validation comes before any API call


@pytest.mark.parametrize("owner", ["someone-else"])
def test_tenant_refuses_a_namespace_of_another_tenant(play, k8s, namespace, owner):
    client.CoreV1Api(k8s).patch_namespace(namespace, {"metadata": {"labels": {"kmetal.io/tenant": owner}}})
    run = play([task("tenant", name="mine", namespace=namespace, ignore_errors=True),
                task("tenant", name="mine", namespace=namespace, state="absent", ignore_errors=True)])
    assert "belongs to tenant 'someone-else'" in run[0]["msg"]
    assert "refusing to delete a namespace this tenant does not own" in run[1]["msg"]
    assert run.writes == []
