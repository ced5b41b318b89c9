"""The _info modules through ansible-playbook: filters, and a fixed number of requests whatever the fleet's size."""

from kmetal_tasks import task
from kubernetes import client


def test_info_modules_list_and_filter(play, k8s, uniq):
    t1, t2 = "i1-%s" % uniq, "i2-%s" % uniq
    setup = play([
        task("tenant", name=t1, admins={"users": ["alice"]}), task("tenant", name=t2),
        task("vpc", name=t1, tenant=t1), task("vpc", name=t2, tenant=t2),
        task("subnet", name=t1 + "-a", vpc=t1, cidr=["10.10.0.0/24"]), task("subnet", name=t1 + "-b", vpc=t1, cidr=["10.10.1.0/24"]),
        task("subnet", name=t2 + "-a", vpc=t2, cidr=["10.10.0.0/24"]),
        task("tenant_cluster", name="c1", tenant=t1, version="v1.34.1", class_namespace="no-class-" + uniq, workers=[{"name": "md-0", "replicas": 1}]),
    ])
    assert all(r.get("changed") for r in setup.results), setup.results
    run = play([
        task("tenant_info", name=t1), task("tenant_info"),
        task("vpc_info", tenant=t2), task("subnet_info", vpc=t1), task("subnet_info", tenant=t2, name=t2 + "-a"),
        task("tenant_cluster_info", tenant=t1), task("tenant_cluster_info", tenant=t2),
        task("subnet_info", vpc="Bad VPC", ignore_errors=True),
    ], check=True)
    one, every, vpcs, subnets, subnet, clusters, none, bad = run.results
    assert one["names"] == [t1] and one["tenants"][0]["admins"]["users"] == ["alice"] and one["tenants"][0]["clusters"] == ["c1"]
    assert one["tenants"][0]["quota"]["hard"]["count/tenantcontrolplanes.kamaji.clastix.io"] == "10"
    assert {t1, t2} <= set(every["names"])
    assert vpcs["names"] == [t2]
    assert subnets["names"] == [t1 + "-a", t1 + "-b"]
    assert subnet["names"] == [t2 + "-a"]
    assert [s["name"] for s in clusters["summaries"]] == ["c1"] and clusters["summaries"][0]["tenant"] == t1
    assert none["clusters"] == []
    assert "vpc: 'Bad VPC' is not a valid name" in bad["msg"]
    assert one["api_requests"] == 4 and every["api_requests"] == 4 and vpcs["api_requests"] == 1
    assert run.writes == []
    objects = client.CustomObjectsApi(k8s)
    for subnet in (t1 + "-a", t1 + "-b", t2 + "-a"):
        objects.delete_cluster_custom_object("kubeovn.io", "v1", "subnets", subnet)
    for vpc in (t1, t2):
        objects.delete_cluster_custom_object("kubeovn.io", "v1", "vpcs", vpc)
    for tenant in (t1, t2):
        client.CoreV1Api(k8s).delete_namespace("tenant-" + tenant)


NAMES = ["Bad", "bad_name", "-bad", "bad-", "a" * 64, "bad.name", "bad name", "ünïcode", "UPPER", "x/y"]
INFO_OPTION = {"tenant_info": "name", "vpc_info": "tenant", "subnet_info": "vpc", "tenant_cluster_info": "namespace"}


def test_info_modules_bad_input_fails_before_any_request(play):
    """Ten malformed names for each _info module, the ten cases in parallel on local hosts of their own."""
    hosts = {"case%02d" % i: {"bad": name} for i, name in enumerate(NAMES)}
    tasks = [{"name": module, "kmetal.platform.%s" % module: {option: "{{ bad }}"}, "ignore_errors": True} for module, option in INFO_OPTION.items()]
    run = play(tasks, hosts=hosts, check=True)
    for (module, option), by_host in zip(INFO_OPTION.items(), run.results):
        for i, name in enumerate(NAMES):
            result = by_host["case%02d" % i]
            assert result.get("failed") and "%s: %r is not a valid name" % (option, name) in result["msg"], (module, name, result.get("msg"))
    assert run.requests == 0
