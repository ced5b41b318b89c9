# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tenant cluster: a Cluster API v1beta2 Cluster over the kubevirt-kubeadm ClusterClass (tenant_cluster module)."""

from __future__ import annotations

from ansible_collections.kmetal.platform.plugins.module_utils import _autoscaling, _datastore, _lifecycle
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import MANAGED_BY, TENANT_LABEL, KmetalError, condition, ident
from ansible_collections.kmetal.platform.plugins.module_utils._reconcile import apply_object, delete_object, diff_entry, needs_apply, normalize
from ansible_collections.kmetal.platform.plugins.module_utils._snapshot import Snapshot
from ansible_collections.kmetal.platform.plugins.module_utils._tenant import tenant_namespace
from ansible_collections.kmetal.platform.plugins.module_utils._validate import DNS1123_SUBDOMAIN, Problems, check_class_variables, overlaps

AUTOSCALER_MIN = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
AUTOSCALER_MAX = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"

CLUSTER_ARGS = dict(
    name={"type": "str", "required": True},
    tenant={"type": "str"},
    namespace={"type": "str"},
    state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    class_name={"type": "str", "default": "kubevirt-kubeadm"},
    class_namespace={"type": "str", "default": "kmetal-capi-providers"},
    version={"type": "str"},
    control_plane={"type": "dict", "default": {}, "options": {
        "replicas": {"type": "int"},
        "data_store_name": {"type": "str", "default": "default"},
        "cert_sans": {"type": "list", "elements": "str"},
        "service_address": {"type": "str"},
        "service_type": {"type": "str", "choices": ["LoadBalancer", "NodePort", "ClusterIP"]},
    }},
    machine_size={"type": "str"},
    bootstrap_server_address={"type": "str"},
    subnet={"type": "str"},
    pod_cidrs={"type": "list", "elements": "str"},
    service_cidrs={"type": "list", "elements": "str"},
    workers={"type": "list", "elements": "dict", "default": [], "options": {
        "name": {"type": "str", "required": True},
        "class": {"type": "str", "default": "default-worker"},
        "replicas": {"type": "int"},
        "min_size": {"type": "int"},
        "max_size": {"type": "int"},
        "capacity": _autoscaling.CAPACITY_OPTION,
    }},
    variables={"type": "dict", "default": {}},
    labels={"type": "dict", "default": {}},
    wait={"type": "bool", "default": False},
    wait_for={"type": "list", "elements": "str", "default": ["Available"],
              "choices": ["Available", "ControlPlaneReady", "ControlPlaneAvailable", "WorkersAvailable"]},
    wait_timeout={"type": "int", "default": 600},
    datastore=_datastore.DATASTORE_OPTION,
    **dict(_lifecycle.LIFECYCLE_ARGS, **_autoscaling.AUTOSCALING_ARGS)
)


def cluster_namespace(p):
    return p.get("namespace") or (tenant_namespace(p["tenant"]) if p.get("tenant") else None)


def build_cluster(p):
    """Validate the tenant_cluster module's parameters P and build the Cluster. Touches no API."""
    problems = Problems(ident("Cluster", p.get("name"), cluster_namespace(p)))
    problems.label_name("name", p.get("name"))
    if p.get("tenant") is not None:
        problems.label_name("tenant", p.get("tenant"), max_len=56)
    ns = cluster_namespace(p)
    if ns is None:
        problems.add("namespace", "give namespace or tenant (the namespace is then tenant-<tenant>)")
    else:
        problems.label_name("namespace", ns)
    problems.int_range("wait_timeout", p.get("wait_timeout"), 1, 7200)
    problems.labels("labels", p.get("labels"))
    if p.get("state", "present") == "absent":
        problems.raise_if_any()
        return None
    problems.label_name("class_name", p.get("class_name"), max_len=253)
    problems.label_name("class_namespace", p.get("class_namespace"))
    problems.version("version", p.get("version"))
    replicas = (p.get("control_plane") or {}).get("replicas")
    problems.int_range("control_plane.replicas", replicas, 0, 9)
    variables = _topology_variables(p, _control_plane_variable(p, ns, problems), problems)
    nets = _cluster_networks(p, problems)
    deployments = _machine_deployments(p, problems)
    _lifecycle.validate(p, problems)
    problems.raise_if_any()

    labels = dict(p.get("labels") or {})
    labels.update(MANAGED_BY)
    if p.get("tenant"):
        labels[TENANT_LABEL] = p["tenant"]
    topology = {"classRef": {"name": p["class_name"], "namespace": p["class_namespace"]}, "version": p["version"]}
    if replicas is not None:
        topology["controlPlane"] = {"replicas": replicas}
    if variables:
        topology["variables"] = variables
    if deployments:
        topology["workers"] = {"machineDeployments": deployments}
    spec = {"topology": topology}
    network = {}
    if nets["pod_cidrs"]:
        network["pods"] = {"cidrBlocks": [str(n.cidr) for n in nets["pod_cidrs"]]}
    if nets["service_cidrs"]:
        network["services"] = {"cidrBlocks": [str(n.cidr) for n in nets["service_cidrs"]]}
    if network:
        spec["clusterNetwork"] = network
    return {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": p["name"], "namespace": ns, "labels": labels}, "spec": spec}


def _control_plane_variable(p, ns, problems):
    """The ClusterClass's controlPlane variable: the DataStore (named, or the tenant's own) and the API's network."""
    cp = p.get("control_plane") or {}
    cp_var = {}
    if cp.get("data_store_name"):
        problems.subdomain("control_plane.data_store_name", cp["data_store_name"])
        cp_var["dataStoreName"] = cp["data_store_name"]
    if ns and _datastore.validate(p, ns, problems):
        cp_var["dataStoreName"] = _datastore.datastore_name(p, ns)  # the tenant's own
    net_var = {}
    for i, san in enumerate(cp.get("cert_sans") or []):
        if not (isinstance(san, str) and (_is_ip(san) or DNS1123_SUBDOMAIN.match(san.lower().lstrip("*.")))):
            problems.add("control_plane.cert_sans[%d]" % i, "%r is neither an IP address nor a DNS name" % (san,))
    if cp.get("cert_sans"):
        net_var["certSANs"] = list(cp["cert_sans"])
    if cp.get("service_address"):
        if problems.ip("control_plane.service_address", cp["service_address"]):
            net_var["serviceAddress"] = cp["service_address"]
    if cp.get("service_type"):
        net_var["serviceType"] = cp["service_type"]
    if net_var:
        cp_var["network"] = net_var
    return cp_var


def _topology_variables(p, cp_var, problems):
    """The Cluster's topology variables: those of the module's options, then the user's own (never one of those)."""
    variables = []
    if cp_var:
        variables.append({"name": "controlPlane", "value": cp_var})
    if p.get("machine_size"):
        variables.append({"name": "machineSize", "value": p["machine_size"]})
    addr = p.get("bootstrap_server_address")
    if addr is not None and not str(addr).strip():
        problems.add("bootstrap_server_address", "is empty: give the IP address or DNS name the workers connect to, or leave the option out")
    elif addr:
        if not (_is_ip(addr) or DNS1123_SUBDOMAIN.match(addr)):
            problems.add("bootstrap_server_address", "%r is neither an IP address nor a DNS name" % (addr,))
        variables.append({"name": "bootstrapConfig", "value": {"serverAddress": addr}})
    if p.get("subnet"):
        problems.label_name("subnet", p["subnet"])
        variables.append({"name": "network", "value": {"subnet": p["subnet"]}})
    builtin = {v["name"] for v in variables}
    for name, value in sorted((p.get("variables") or {}).items()):
        if name in builtin:
            problems.add("variables.%s" % name, "is set by a module option already; set it there, not in variables")
            continue
        if not isinstance(name, str) or not name:
            problems.add("variables", "%r is not a variable name" % (name,))
            continue
        variables.append({"name": name, "value": value})
    return variables


def _cluster_networks(p, problems):
    """{pod_cidrs: [networks], service_cidrs: [networks]}, the two disjoint."""
    nets = {}
    for key in ("pod_cidrs", "service_cidrs"):
        nets[key] = [n for n in (problems.cidr("%s[%d]" % (key, i), c) for i, c in enumerate(p.get(key) or [])) if n is not None]
    for a in nets["pod_cidrs"]:
        for b in nets["service_cidrs"]:
            if a.version == b.version and overlaps(a, b):
                problems.add("service_cidrs", "%s overlaps the pod network %s: the tenant cluster needs disjoint ranges" % (b, a))
    return nets


def _machine_deployments(p, problems):
    """The workers as the topology's MachineDeployments: a fixed replica count, or min/max for the autoscaler
    (with the scale-from-zero capacity when min is 0)."""
    deployments = []
    seen = set()
    for i, w in enumerate(p.get("workers") or []):
        field = "workers[%d]" % i
        wname = problems.label_name(field + ".name", w.get("name"))
        if wname in seen:
            problems.add(field + ".name", "%s is given twice" % wname)
        seen.add(wname)
        problems.label_name(field + ".class", w.get("class") or "default-worker", max_len=256)
        wreplicas, min_size, max_size = w.get("replicas"), w.get("min_size"), w.get("max_size")
        deployment = {"class": w.get("class") or "default-worker", "name": wname}
        if (min_size is not None or max_size is not None) and wreplicas is not None:
            problems.add(field, "give either replicas or min_size/max_size (autoscaler), not both")
        elif min_size is not None or max_size is not None:
            if min_size is None or max_size is None:
                problems.add(field, "the autoscaler needs both min_size and max_size")
            else:
                min_size = problems.int_range(field + ".min_size", min_size, 0, 1000)
                max_size = problems.int_range(field + ".max_size", max_size, 1, 1000)
                if min_size is not None and max_size is not None and min_size > max_size:
                    problems.add(field, "min_size %d is greater than max_size %d" % (min_size, max_size))
                deployment["metadata"] = {"annotations": {AUTOSCALER_MIN: str(min_size), AUTOSCALER_MAX: str(max_size)}}
                deployment["metadata"]["annotations"].update(_autoscaling.scale_from_zero(w, field, p, problems))
        else:
            problems.int_range(field + ".replicas", wreplicas, 0, 1000)
            deployment["replicas"] = wreplicas if wreplicas is not None else 1
        deployments.append(deployment)
    return deployments


def _is_ip(text):
    import netaddr

    try:
        netaddr.IPAddress(text)
        return True
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False


def summary(obj):
    """What reports need of a Cluster: name, phase, the conditions' statuses."""
    status = (obj or {}).get("status") or {}
    return {
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"].get("namespace"),
        "tenant": (obj["metadata"].get("labels") or {}).get(TENANT_LABEL),
        "version": ((obj.get("spec") or {}).get("topology") or {}).get("version"),
        "phase": status.get("phase"),
        "conditions": {c.get("type"): c.get("status") for c in status.get("conditions") or []},
        "sleeping": _lifecycle.sleeping(obj),
        "wake_replicas": _lifecycle.wake_replicas(obj),
    }


def cluster_check(desired, live, snapshot, declared=None, check_mode=False, warn=None, params=None):
    """The cluster checks, the same for a module call and a fleet. First, with the module's PARAMS, the lifecycle
    (_lifecycle.settle: sleep and wake, the version guard). Then, when a write is coming: the variables against
    the ClusterClass's schemas (read once per snapshot), and the namespace exists (or DECLARED, {(kind, namespace,
    name)} the same run writes, has it). In check mode a missing namespace returns "predict": nothing can be dry-run
    in it, so the cluster would be created as given."""
    if params is not None:
        _lifecycle.settle(desired, live, params, warn)
    if not needs_apply(desired, live):
        return None
    _datastore.check_referenced(desired, snapshot, declared)
    meta, topology = desired["metadata"], desired["spec"]["topology"]
    cluster_ident = ident("Cluster", meta["name"], meta["namespace"])
    class_ref = topology["classRef"]
    class_obj = snapshot.get("ClusterClass", class_ref["name"], class_ref["namespace"])
    if class_obj is None:
        if warn:
            warn("ClusterClass %s/%s not found: the variables were not checked against its schemas" % (class_ref["namespace"], class_ref["name"]))
    else:
        errors = check_class_variables(topology.get("variables") or [], class_obj)
        if errors:
            raise KmetalError("the variables do not fit ClusterClass %s/%s: %s" % (class_ref["namespace"], class_ref["name"], "; ".join(errors)),
                              obj=cluster_ident, field="variables", problems=errors)
    ns = meta["namespace"]
    if live is None and ("Namespace", None, ns) not in (declared or {}) and snapshot.get("Namespace", ns) is None:
        if check_mode:
            if warn:
                warn("the cluster %s depends on the namespace %s, which does not exist yet: predicted as given" % (meta["name"], ns))
            return "predict"
        raise KmetalError("the namespace %s does not exist: create the tenant first (kmetal.platform.tenant)" % ns, obj=cluster_ident, field="namespace")
    return None


def _apply_datastore(client, desired, live, module, result):
    """The tenant's own DataStore (option datastore), written before the Cluster that references it and after the
    Cluster's checks passed (a refused cluster writes nothing)."""
    changed, before, after = apply_object(client, desired, live, module.check_mode, check=lambda current: _datastore.check_owner(desired, current))
    result["datastore"] = normalize(after)
    if changed:
        result["changed"] = True
        if module._diff:
            result["diff"] = [diff_entry(before, after, ident("DataStore", desired["metadata"]["name"]))]


def _add_diff(result, entry):
    """The Cluster's diff, after the DataStore's when the run wrote both."""
    if isinstance(result.get("diff"), list):
        result["diff"].append(entry)
    else:
        result["diff"] = entry


def _wait_present(client, p, ns, asleep, result):
    """wait: a sleeping cluster until its control plane reports Sleeping (its conditions say unavailable then);
    a version change until the control plane runs the new version (the seconds it took in the result); then the
    conditions of wait_for."""
    if asleep:
        result["control_plane"], _seconds = _lifecycle.wait_control_plane(client, p["name"], ns, _lifecycle.asleep, p["wait_timeout"], "report Sleeping")
        return client.get("Cluster", p["name"], ns)
    if "upgrade" in result:
        target = result["upgrade"]["to"]
        result["control_plane"], result["upgrade"]["seconds"] = _lifecycle.wait_control_plane(
            client, p["name"], ns, lambda report: _lifecycle.runs_version(report, target), p["wait_timeout"], "run %s" % target)
    wanted = p["wait_for"]
    return client.wait("Cluster", p["name"], ns, lambda o: o is not None and all(condition(o, c) == "True" for c in wanted),
                       p["wait_timeout"], "conditions %s to be True" % ", ".join(wanted))


def cluster_reconcile(module, connect):
    p = module.params
    desired = build_cluster(p)
    ns = cluster_namespace(p)
    client = connect()
    live = client.get("Cluster", p["name"], ns)
    cluster_ident = ident("Cluster", p["name"], ns)
    if p["state"] == "absent":
        changed = delete_object(client, "Cluster", live, module.check_mode)
        result = {"changed": changed, "cluster": None}
        if changed and module._diff:
            result["diff"] = diff_entry(live, None, cluster_ident)
        if live is not None and p["wait"] and not module.check_mode:
            _lifecycle.wait_deleted(client, p["name"], ns, p["wait_timeout"])
        return result
    result = {"changed": False}
    store = _datastore.validate(p, ns, Problems(ident("DataStore", _datastore.datastore_name(p, ns))))
    declared = None
    if store is not None:
        store_live = client.get("DataStore", store["metadata"]["name"])
        _datastore.check_owner(store, store_live)
        declared = {("DataStore", None, store["metadata"]["name"]): "datastore"}
    verdict = cluster_check(desired, live, Snapshot(client), declared=declared, check_mode=module.check_mode, warn=module.warn, params=p)
    if store is not None:
        _apply_datastore(client, store, store_live, module, result)
    if verdict == "predict":
        result.update(changed=True, cluster=desired, summary=summary(desired))
        if module._diff:
            _add_diff(result, diff_entry(None, desired, cluster_ident))
        return result
    changed, before, after = apply_object(client, desired, live, module.check_mode,
                                          check=lambda current: _lifecycle.settle(desired, current, p, module.warn))
    result["changed"] = changed or result["changed"]
    if changed and module._diff:
        _add_diff(result, diff_entry(before, after, cluster_ident))
    old, new = ((live or {}).get("spec") or {}).get("topology", {}).get("version"), desired["spec"]["topology"]["version"]
    if live is not None and old != new:
        result["upgrade"] = {"from": old, "to": new}
    if p["wait"] and not module.check_mode:
        after = _wait_present(client, p, ns, _lifecycle.sleeping(desired), result)
    result["cluster"] = normalize(after)
    result["summary"] = summary(after) if after else None
    return result
