"""Autoscaling the module does not fight, against the lab API: a re-run after the autoscaler (another field manager)
changed a machine deployment's replicas changes nothing, and a machine deployment that may scale from zero carries
the cluster-autoscaler's capacity annotations from its machine size."""

from kmetal_tasks import bad_input, task
from kubernetes import client
from test_cluster_lifecycle import args, klass  # noqa: F401  (fixture)
from test_tenant_cluster_module import CAPI, get_cluster

CAPACITY = "capacity.cluster-autoscaler.kubernetes.io/"
WORKERS = [{"name": "md-0", "min_size": 1, "max_size": 5},
           {"name": "batch", "class": "large", "min_size": 0, "max_size": 3},
           {"name": "edge", "min_size": 0, "max_size": 2, "capacity": {"max_pods": 50}}]


def deployments(cluster):
    return {md["name"]: md for md in cluster["spec"]["topology"]["workers"]["machineDeployments"]}


def annotations(md):
    return (md.get("metadata") or {}).get("annotations") or {}


def test_the_autoscaler_is_not_fought_and_scale_from_zero_has_capacity(play, k8s, klass):  # noqa: F811
    ns = klass
    cluster = args(ns, workers=WORKERS)
    run = play([task("tenant_cluster", **cluster), task("tenant_cluster", **cluster)])
    assert run[0]["changed"] and run[1]["changed"] is False and len(run.writes) == 1
    mds = deployments(get_cluster(k8s, ns, "dev"))
    assert all("replicas" not in md for md in mds.values())
    assert not any(k.startswith(CAPACITY) for k in annotations(mds["md-0"]))  # min 1: a node exists to read
    assert {k: v for k, v in annotations(mds["batch"]).items() if k.startswith(CAPACITY)} == {
        CAPACITY + "cpu": "8", CAPACITY + "memory": "16Gi", CAPACITY + "ephemeral-disk": "80Gi"}  # the large size
    edge = annotations(mds["edge"])  # default-worker: the cluster's machine_size (small), plus its own max_pods
    assert edge[CAPACITY + "cpu"] == "2" and edge[CAPACITY + "memory"] == "4Gi" and edge[CAPACITY + "maxPods"] == "50"

    # the autoscaler scales md-0 and batch (another field manager writes the topology's replicas)
    live = get_cluster(k8s, ns, "dev")
    for md in live["spec"]["topology"]["workers"]["machineDeployments"]:
        md["replicas"] = {"md-0": 4, "batch": 2, "edge": 0}[md["name"]]
    client.CustomObjectsApi(k8s).patch_namespaced_custom_object(
        *CAPI, ns, "clusters", "dev", {"spec": {"topology": {"workers": live["spec"]["topology"]["workers"]}}}, field_manager="cluster-autoscaler")
    again = play([task("tenant_cluster", **cluster), task("tenant_cluster", **cluster)], check=False)
    assert [r["changed"] for r in again.results] == [False, False] and again.writes == []
    assert {n: md.get("replicas") for n, md in deployments(get_cluster(k8s, ns, "dev")).items()} == {"md-0": 4, "batch": 2, "edge": 0}

    # a change of the bounds is written and leaves the autoscaler's replicas alone
    wider = dict(cluster, workers=[dict(WORKERS[0], max_size=8)] + WORKERS[1:])
    changed = play([task("tenant_cluster", **wider)])
    assert changed[0]["changed"] and len(changed.writes) == 1
    mds = deployments(get_cluster(k8s, ns, "dev"))
    assert mds["md-0"]["replicas"] == 4 and annotations(mds["md-0"])["cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"] == "8"


def test_site_machine_sizes_with_gpus(play, k8s, klass):  # noqa: F811
    ns = klass
    sizes = {"small": {"cores": 2, "memory": "4Gi", "disk": "20Gi"},
             "gpu-a10": {"cores": 8, "memory": "32Gi", "disk": "100Gi", "gpus": [{"name": "a10", "resource": "nvidia.com/GA102GL_A10", "count": 1}]}}
    run = play([task("tenant_cluster", **args(ns, machine_sizes=sizes, workers=[{"name": "gpu", "class": "gpu-a10", "min_size": 0, "max_size": 2}]))],
               check=True)
    md = run[0]["diff"]["after"]["spec"]["topology"]["workers"]["machineDeployments"][0]
    assert annotations(md)[CAPACITY + "gpu-type"] == "nvidia.com/GA102GL_A10" and annotations(md)[CAPACITY + "gpu-count"] == "1"
    assert annotations(md)[CAPACITY + "memory"] == "32Gi" and run.writes == []


BAD = [
    ({"machine_size": "huge", "workers": [{"name": "md", "min_size": 0, "max_size": 2}]},
     "workers[0].min_size: 0 lets the autoscaler scale from zero, which needs the machine's capacity: the machine size 'huge' is not in "
     "machine_sizes (known: large, medium, small); add the size to machine_sizes or give workers[0].capacity (cpu and memory)"),
    ({"machine_size": None, "workers": [{"name": "md", "min_size": 0, "max_size": 2}]}, "the cluster gives no machine_size"),
    ({"workers": [{"name": "md", "min_size": 0, "max_size": 2, "capacity": {"memory": "lots"}}]},
     "workers[0].capacity.memory: 'lots' is not a Kubernetes quantity"),
]


def test_scale_from_zero_without_a_capacity_is_refused_before_any_request(play, namespace):
    cases = [(dict(args(namespace), **change), words) for change, words in BAD]
    results, run = bad_input(play, "tenant_cluster", cases)
    for (_args, words), result in zip(cases, results):
        assert result.get("failed") and words in result["msg"], (words, result.get("msg"))
    assert run.writes == [] and run.requests == 0
