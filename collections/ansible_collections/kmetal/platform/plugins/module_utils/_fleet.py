# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fleet of tenants in one call (tenant_fleet module): the tenants role's list, turned into the parameters of the
tenant, vpc, subnet and tenant_cluster modules (module_params: the one mapping of the inventory's tenant shape, which
exists nowhere else), validated by those modules' argspecs and builders for every item before any request, then
reconciled by _bulk.reconcile_many (one LIST per kind) with the modules' own checks and unit writer.
"""

from __future__ import annotations

import copy
import time

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kmetal.platform.plugins.module_utils import _cluster, _datastore, _lifecycle, _network, _tenant
from ansible_collections.kmetal.platform.plugins.module_utils._bulk import reconcile_many, record
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import MANAGED_BY, TENANT_LABEL, KmetalError, condition, ident, obj_ident
from ansible_collections.kmetal.platform.plugins.module_utils._reconcile import delete_object
from ansible_collections.kmetal.platform.plugins.module_utils._validate import Problems, check_types, short, show

FLEET_ARGS = dict(
    tenants={"type": "list", "elements": "dict"},
    tenants_file={"type": "path"},
    platform_cidrs={"type": "list", "elements": "str", "default": []},
    platform_drop_priority={"type": "int", "default": 31000},
    class_name={"type": "str", "default": "kubevirt-kubeadm"},
    class_namespace={"type": "str", "default": "kmetal-capi-providers"},
    cluster_version={"type": "str", "default": "v1.34.1"},
    machine_size={"type": "str"},
    wait={"type": "bool", "default": False},
    wait_for={"type": "list", "elements": "str", "default": ["Available"],
              "choices": ["Available", "ControlPlaneReady", "ControlPlaneAvailable", "WorkersAvailable"]},
    wait_timeout={"type": "int", "default": 900},
    prune={"type": "bool", "default": False},
    prune_max={"type": "int", "default": 5},
    prune_selector={"type": "str"},
    fail_fast={"type": "bool", "default": False},
    workers={"type": "int", "default": 8},
    artifact_manifest={"type": "path"},
    available_versions={"type": "list", "elements": "str"},
    machine_sizes={"type": "dict"},
)

# The keys of one tenant of the list, of its vpc, subnets and clusters: the ones the role's per-item tasks pass on.
TENANT_KEYS = ("name", "state", "namespace", "adopt_namespace", "labels", "quota", "limits", "admins", "vpc", "subnets", "clusters", "datastore")
# The keys of a tenant's datastore its clusters get (the rest, e.g. backup, is the chart's: the platform role's values).
DATASTORE_KEYS = ("name", "replicas", "namespace")
VPC_KEYS = ("name", "namespaces", "platform_cidrs", "static_routes", "policy_routes", "enable_external", "external_next_hop")
SUBNET_KEYS = ("name", "vpc", "cidr", "gateway", "exclude_ips", "mode", "vlan", "nat_outgoing", "private", "allow_subnets", "namespaces", "mtu")
CLUSTER_KEYS = ("name", "class_name", "class_namespace", "version", "control_plane", "machine_size", "bootstrap_server_address", "subnet",
                "pod_cidrs", "service_cidrs", "workers", "variables", "sleep", "labels")

# Kinds listed whole, not only what the collection labelled: the per-item modules see every namespace, VPC and subnet
# too (a namespace the collection did not create must be seen to be refused, not adopted);
# (a subnet's VPC may be foreign, and an overlap with a foreign subnet of the same VPC must be refused).
UNFILTERED = {"Namespace": None, "Vpc": None, "Subnet": None, "DataStore": None}


def _pick(entry, keys, where, problems):
    """ENTRY's known KEYS (unknown ones are problems: a typo must not be silently ignored)."""
    if not isinstance(entry, dict):
        problems.append("%s: %r is not a dictionary" % (where, entry))
        return None
    for key in sorted(set(entry) - set(keys), key=str):
        problems.append("%s.%s: is not a known key (known: %s)" % (where, key, ", ".join(keys)))
    return {k: v for k, v in entry.items() if k in keys and v is not None}


_VALIDATORS = {}  # id(argspec) -> its ArgumentSpecValidator, built once per run: 4 specs, not 4 per tenant


def _own_defaults(spec, params):
    """PARAMS with a copy of each mutable default ([] or {}) of SPEC it lacks, at every level: the validator would
    put the spec's own object there and fill a dict's sub-options into it, changing the spec for the next tenant."""
    for key, option in spec.items():
        value = params.get(key)
        if value is None and isinstance(option.get("default"), (dict, list)):
            value = params[key] = copy.deepcopy(option["default"])
        if option.get("options") and isinstance(value, dict):
            _own_defaults(option["options"], value)
        elif option.get("options") and isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _own_defaults(option["options"], item)
    return params


def _validated(args, params, where, problems):
    """PARAMS through the module's own argspec ARGS: its types, choices and defaults, as the module would get them."""
    typed = check_types(args, params)
    if typed:
        problems.extend("%s: %s" % (where, msg) for msg in typed)
        return params
    validator = _VALIDATORS.get(id(args))
    if validator is None:
        validator = _VALIDATORS[id(args)] = ArgumentSpecValidator(copy.deepcopy(args))
    result = validator.validate(_own_defaults(validator.argument_spec, copy.deepcopy(params)))
    for msg in result.error_messages:
        problems.append("%s: %s" % (where, msg))
    return result.validated_parameters


def _build(builder, params, where, problems):
    try:
        return builder(params)
    except KmetalError as err:
        problems.append("%s: %s" % (where, err))
        return None


def module_params(tenant, defaults, where, problems):
    """The parameters of the tenant, vpc, subnet and tenant_cluster modules for
    TENANT: {'tenant': ..., 'vpc': ..., 'subnets': [...], 'clusters': [...]} (None for what is not valid)."""
    t = _pick(tenant, TENANT_KEYS, where, problems)
    if t is None:
        return None
    name = t.get("name")
    ns = _tenant.tenant_namespace(name, t.get("namespace"))
    out = {"tenant": {k: t[k] for k in ("name", "namespace", "adopt_namespace", "labels", "quota", "limits", "admins") if k in t}}
    vpc_in = _pick(t.get("vpc") or {}, VPC_KEYS, where + ".vpc", problems) or {}
    vpc_name = vpc_in.get("name") or name
    out["vpc"] = {
        "name": vpc_name, "tenant": name, "namespaces": vpc_in.get("namespaces", [ns]),
        "platform_cidrs": list(defaults["platform_cidrs"] or []) + list(vpc_in.get("platform_cidrs") or []),
        "platform_drop_priority": defaults["platform_drop_priority"],
        "static_routes": vpc_in.get("static_routes", []), "policy_routes": vpc_in.get("policy_routes", []),
        "enable_external": vpc_in.get("enable_external", False),
    }
    if vpc_in.get("external_next_hop") is not None:
        out["vpc"]["external_next_hop"] = vpc_in["external_next_hop"]
    out["subnets"] = []
    for i, entry in enumerate(t.get("subnets") or []):
        s = _pick(entry, SUBNET_KEYS, "%s.subnets[%d]" % (where, i), problems)
        if s is not None:
            out["subnets"].append(dict(s, vpc=s.get("vpc") or vpc_name, tenant=name, mode=s.get("mode") or "overlay",
                                       namespaces=s.get("namespaces", [ns])))
    out["clusters"] = []
    for i, entry in enumerate(t.get("clusters") or []):
        c = _pick(entry, CLUSTER_KEYS, "%s.clusters[%d]" % (where, i), problems)
        if c is None:
            continue
        params = dict(c, tenant=name, class_name=c.get("class_name") or defaults["class_name"],
                      class_namespace=c.get("class_namespace") or defaults["class_namespace"],
                      version=c.get("version") or defaults["cluster_version"])
        if t.get("namespace"):
            params["namespace"] = t["namespace"]
        if not params.get("machine_size") and defaults.get("machine_size"):
            params["machine_size"] = defaults["machine_size"]
        if isinstance(t.get("datastore"), dict) and "datastore" not in params:  # the tenant's own DataStore, for each of its clusters
            params["datastore"] = {k: v for k, v in t["datastore"].items() if k in DATASTORE_KEYS}
        for key in ("artifact_manifest", "available_versions", "machine_sizes"):  # fleet-wide settings of every cluster
            if defaults.get(key) is not None:
                params.setdefault(key, defaults[key])
        out["clusters"].append(params)
    return out


class Fleet(object):
    """The fleet's desired objects with their checks, built and validated without touching the API."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.items = []            # [(desired object, check or None)] for reconcile_many
        self.clusters = []         # desired Clusters (waits)
        self.tenants = []
        self.absent = []           # (kind, namespace, name): admin RoleBindings of tenants given admins with nobody
        self.owners = {}           # (kind, namespace, name) -> the tenant it belongs to
        self.removals = {}         # tenant -> Removal, of the entries with state: absent
        self._declared = {}        # (kind, namespace, name) -> where it was declared
        self._subnets = {}         # vpc -> {name: desired Subnet} of this fleet
        self.client = None
        self.warnings = []
        problems = []
        for i, tenant in enumerate(params["tenants"] or []):
            label = tenant.get("name") if isinstance(tenant, dict) else None
            self._add_tenant(tenant, "tenants[%d] (%s)" % (i, short(label)) if label else "tenants[%d]" % i, problems)
        if params.get("prune"):
            try:
                self.prune_scope()
            except KmetalError as err:
                problems.append(str(err))
        if problems:
            raise KmetalError("invalid input, nothing was sent: " + "; ".join(problems), problems=problems)

    def _declare(self, obj, where, problems):
        key = (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if key in self._declared:
            problems.append("%s: %s is also declared by %s" % (where, obj_ident(obj), self._declared[key]))
            return False
        self._declared[key] = where
        return True

    def _add_tenant(self, tenant, where, problems):
        if isinstance(tenant, dict) and tenant.get("state", "present") not in ("present", "absent"):
            problems.append("%s: state: %s is not one of present, absent" % (where, show(tenant.get("state"))))
            return
        if isinstance(tenant, dict) and tenant.get("state") == "absent":
            self._add_removal(tenant, where, problems)
            return
        if isinstance(tenant, dict):
            # a bad tenant name is one problem, not one per object named after it
            naming = Problems("tenant")
            naming.label_name("name", tenant.get("name"), max_len=56)
            if naming.items:
                problems.extend("%s: %s" % (where, item) for item in naming.items)
                return
        given = module_params(tenant, self.params, where, problems)
        if given is None:
            return
        name = given["tenant"].get("name")
        if name in self.tenants:
            problems.append("%s: name: tenant %s is given twice" % (where, name))
            return
        self.tenants.append(name)
        before = len(problems)

        def build(args, builder, params, at):
            # the builder needs what the argspec guarantees: it runs only on what passed it
            count = len(problems)
            params = _validated(args, params, at, problems)
            return (params, None) if len(problems) > count else (params, _build(builder, params, at, problems))

        tenant_params, built = build(_tenant.TENANT_ARGS, _tenant.build_tenant, given["tenant"], where)
        _vpc_params, vpc = build(_network.VPC_ARGS, _network.build_vpc, given["vpc"], where + ".vpc")
        subnets = [build(_network.SUBNET_ARGS, _network.build_subnet, s, "%s.subnets[%d]" % (where, i))[1] for i, s in enumerate(given["subnets"])]
        cluster_params, clusters = [], []
        for i, c in enumerate(given["clusters"]):
            params, cluster = build(_cluster.CLUSTER_ARGS, _cluster.build_cluster, c, "%s.clusters[%d]" % (where, i))
            cluster_params.append(params)
            clusters.append(cluster)
        if len(problems) > before:
            return
        _ns, objects = built
        first_item, first_absent = len(self.items), len(self.absent)
        for obj in objects:
            if self._declare(obj, where, problems):
                self.items.append((obj, self._namespace_check(obj, name, tenant_params.get("adopt_namespace"), where) if obj["kind"] == "Namespace" else None))
        if tenant_params.get("admins") is not None and not any(o["kind"] == "RoleBinding" for o in objects):
            self.absent.append(("RoleBinding", objects[0]["metadata"]["name"], _tenant.ADMINS_NAME))  # admins given but empty: the binding goes
        if self._declare(vpc, where + ".vpc", problems):
            self.items.append((vpc, self._vpc_check(vpc, name, where + ".vpc")))
        for i, (subnet, vlan, nets) in enumerate(subnets):
            swhere = "%s.subnets[%d]" % (where, i)
            if vlan is not None and (vlan["kind"], None, vlan["metadata"]["name"]) not in self._declared:
                self._declare(vlan, swhere, problems)
                self.items.append((vlan, None))
            if self._declare(subnet, swhere, problems):
                self._subnets.setdefault(subnet["spec"]["vpc"], {})[subnet["metadata"]["name"]] = subnet
                self.items.append((subnet, self._subnet_check(subnet, nets, name, swhere)))
        for i, cluster in enumerate(clusters):
            cwhere = "%s.clusters[%d]" % (where, i)
            store = _datastore.validate(cluster_params[i], cluster["metadata"]["namespace"], Problems(cwhere))
            if store is not None and (store["kind"], None, store["metadata"]["name"]) not in self._declared:
                self._declare(store, cwhere + ".datastore", problems)  # once per tenant: its clusters share it
                self.items.append((store, lambda live, _snapshot, store=store, at=cwhere: _at(at, _datastore.check_owner, store, live)))
            if self._declare(cluster, cwhere, problems):
                self.clusters.append(cluster)
                self.items.append((cluster, self._cluster_check(cluster, cwhere, cluster_params[i])))
        for obj, _check in self.items[first_item:]:
            self.owners.setdefault((obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]), name)
        for key in self.absent[first_absent:]:
            self.owners[key] = name

    def _add_removal(self, tenant, where, problems):
        # the entry as it was when present (so that flipping state is the only edit), plus force
        t = _pick(tenant, TENANT_KEYS + ("force",), where, problems)
        check = Problems("tenant")
        name = check.label_name("name", t.get("name"), max_len=56)
        ns = _tenant.tenant_namespace(t.get("name"), t.get("namespace"))
        if name:
            check.label_name("namespace", ns)
        vpc = (t.get("vpc") or {}).get("name") if isinstance(t.get("vpc"), dict) else None
        check.label_name("vpc.name", vpc or name)
        if check.items:
            problems.extend("%s: %s" % (where, item) for item in check.items)
            return
        if name in self.tenants or name in self.removals:
            problems.append("%s: name: tenant %s is given twice" % (where, name))
            return
        self.removals[name] = Removal(name, ns, vpc or name, bool(t.get("force")), self.params["wait_timeout"], "removed")

    def prune(self, snapshot):
        """The removals of tenants that carry the collection's labels but are no longer declared (prune: true).
        Refuses, before any write, to remove more than prune_max."""
        declared = set(self.tenants) | set(self.removals)
        scope = self.prune_scope()
        found = {}
        # with a selector, only tenants whose namespace matches it; without, also a VPC, subnet or cluster left alone
        for kind in ("Namespace",) if scope else ("Namespace", "Vpc", "Subnet", "Cluster"):
            for obj in snapshot.of_kind(kind):
                labels = obj["metadata"].get("labels") or {}
                tenant = labels.get(TENANT_LABEL)
                if tenant and tenant not in declared and all(labels.get(k) == v for k, v in dict(MANAGED_BY, **scope).items()):
                    if kind == "Namespace":
                        found[tenant] = obj["metadata"]["name"]
                    else:
                        found.setdefault(tenant, None)
        if len(found) > self.params["prune_max"]:
            raise KmetalError("prune would remove %d tenants (%s), more than prune_max %d: nothing was changed; raise prune_max if that is "
                              "meant, or declare the tenants again" % (len(found), ", ".join(sorted(found)), self.params["prune_max"]),
                              field="prune_max", pruned=sorted(found))
        return {name: Removal(name, ns or _tenant.tenant_namespace(name), name, False, self.params["wait_timeout"], "pruned")
                for name, ns in sorted(found.items())}

    def prune_scope(self):
        """prune_selector as {key: value} (equality terms only: a prune must be predictable)."""
        scope = {}
        for term in (self.params.get("prune_selector") or "").split(","):
            if not term.strip():
                continue
            key, sep, value = term.partition("=")
            if not sep or not key.strip() or key.strip().endswith("!") or value.startswith("="):
                raise KmetalError("%r is not a KEY=VALUE term: give equality terms separated by commas, e.g. kmetal.io/fleet=site-a" % term.strip(),
                                  field="prune_selector")
            scope[key.strip()] = value.strip()
        return scope

    # -- checks against the snapshot: the per-item modules' checks, run for every item before the first write ------
    @staticmethod
    def _namespace_check(desired, name, adopt, where):
        def check(live, _snapshot):
            try:
                _tenant.check_namespace(name, desired["metadata"]["name"], live, adopt)
            except KmetalError as err:
                raise KmetalError(str(err), obj=where)
            _tenant.mark_created(desired, live)
        return check

    @staticmethod
    def _vpc_check(vpc, name, where):
        def check(live, _snapshot):
            _at(where, _network.vpc_check, vpc, name, live)
        return check

    def _subnet_check(self, subnet, nets, tenant, where):
        def check(live, snapshot):
            _at(where, _network.subnet_check, subnet, nets, live, snapshot, tenant=tenant, declared=self._declared,
                siblings=self._subnets.get(subnet["spec"]["vpc"]), check_mode=self.check_mode, warn=self._warn)
        return check

    def _cluster_check(self, cluster, where, params=None):
        def check(live, snapshot):
            _at(where, _cluster.cluster_check, cluster, live, snapshot, declared=self._declared, check_mode=self.check_mode, warn=self._warn,
                params=params)
        return check

    def _warn(self, text):
        if text not in self.warnings:
            self.warnings.append(text)


def _at(where, check, *args, **kwargs):
    """CHECK(*ARGS, **KWARGS), its refusal named by the fleet entry WHERE."""
    try:
        return check(*args, **kwargs)
    except KmetalError as err:
        raise KmetalError(str(err), obj=where, problems=err.details.get("problems"))


def load_tenants_file(path):
    """The tenant list of a YAML or JSON file, read with libyaml when PyYAML has it: for 1,000 tenants ansible-core's
    own loader and the copy of the list to its worker take seconds that this read does not. The file holds the list,
    or a mapping whose one key holds it (e.g. kmetal_tenants: [...])."""
    import yaml

    try:
        with open(path) as handle:
            data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as err:
        raise KmetalError("cannot read the tenants from %s: %s" % (path, short(err, 300)), field="tenants_file")
    if isinstance(data, dict) and len(data) == 1:
        data = next(iter(data.values()))
    if not isinstance(data, list):
        raise KmetalError("%s holds %s, not a list of tenants: write the list (- name: acme ...), or one key holding it (kmetal_tenants: [...])"
                          % (path, type(data).__name__), field="tenants_file")
    return data


def fleet_reconcile(module, connect):
    p = module.params
    if p.get("tenants_file"):
        p = dict(p, tenants=load_tenants_file(p["tenants_file"]))
    fleet = Fleet(p, module.check_mode)  # validates every tenant: bad input never costs a request
    result = {"changed": False, "changed_objects": [], "written": [], "objects": len(fleet.items), "tenants": fleet.tenants, "tenant_results": []}
    if not fleet.items and not fleet.removals and not p["prune"]:
        return result
    fleet.client = connect()
    # the writers share one connection pool (urllib3 is thread-safe): as many connections as writers
    getattr(fleet.client.pool, "connection_pool_kw", {})["maxsize"] = max(4, p["workers"])
    result.update(reconcile_many(fleet.client, fleet.items, check_mode=module.check_mode, diff=module._diff,
                                 absent=fleet.absent, selectors=dict(UNFILTERED, IP=None), owners=fleet.owners,
                                 removals={n: r.run for n, r in fleet.removals.items()}, workers=p["workers"], fail_fast=p["fail_fast"],
                                 before_writes=(lambda snap: {n: r.run for n, r in fleet.prune(snap).items()}) if p["prune"] else None))
    result["tenants"] = fleet.tenants
    for warning in fleet.warnings:
        module.warn(warning)
    if p["wait"] and not module.check_mode and fleet.clusters:
        deadline = time.monotonic() + p["wait_timeout"]
        wanted = p["wait_for"]
        for cluster in fleet.clusters:
            meta = cluster["metadata"]
            left = max(1, deadline - time.monotonic())
            # a sleeping cluster (as written: sleep, or kept asleep) is never Available: wait until its control plane
            # reports Sleeping, as tenant_cluster does
            if _lifecycle.sleeping(fleet.client.get("Cluster", meta["name"], meta["namespace"])):
                _lifecycle.wait_control_plane(fleet.client, meta["name"], meta["namespace"], _lifecycle.asleep, left, "report Sleeping")
                continue
            fleet.client.wait("Cluster", meta["name"], meta["namespace"], lambda o: o is not None and all(condition(o, c) == "True" for c in wanted),
                              left, "conditions %s to be True" % ", ".join(wanted))
    return result


class Removal(object):
    """One tenant to delete (state: absent, or pruned), in dependency order with the per-item modules' guards: its
    clusters (waited for until gone), then its subnets once no address is in use, then its VPC once no other subnet
    is in it, then its namespace (only one this collection created; an adopted one is released). Only objects with
    the collection's managed-by label and this tenant's label are deleted."""

    def __init__(self, name, namespace, vpc, force, wait_timeout, status):
        self.name, self.namespace, self.vpc, self.force = name, namespace, vpc, force
        self.wait_timeout, self.status = wait_timeout, status

    def _ours(self, obj):
        labels = (obj or {}).get("metadata", {}).get("labels") or {}
        return labels.get(TENANT_LABEL) == self.name and all(labels.get(k) == v for k, v in MANAGED_BY.items())

    def _delete(self, client, obj, check_mode, diff, report):
        if delete_object(client, obj["kind"], obj, check_mode):
            record(report, obj_ident(obj), diff, obj, None, check_mode)
            return True
        return False

    def run(self, client, snapshot, check_mode, diff, report):
        who = "tenant %s" % self.name
        ns_live = snapshot.get("Namespace", self.namespace)
        if ns_live is not None and (ns_live["metadata"].get("labels") or {}).get(TENANT_LABEL) != self.name:
            raise KmetalError("the namespace %s is not labelled %s=%s: refusing to remove what this tenant does not own"
                              % (self.namespace, TENANT_LABEL, self.name), obj=who, field="namespace")
        done = 0
        clusters = [c for c in snapshot.of_kind("Cluster") if c["metadata"].get("namespace") == self.namespace and self._ours(c)]
        if ns_live is not None:
            foreign = [c["metadata"]["name"] for c in client.list("Cluster", self.namespace) if not self._ours(c)]
            if foreign and not self.force:
                raise KmetalError("refusing to remove the tenant while clusters %s that kmetal.platform did not create are in its namespace: "
                                  "delete them first or set force: true" % foreign, obj=who, field="state")
        for cluster in clusters:
            done += self._delete(client, cluster, check_mode, diff, report)
        if clusters and not check_mode:
            for cluster in clusters:
                _lifecycle.wait_deleted(client, cluster["metadata"]["name"], self.namespace, self.wait_timeout)
        subnets = [s for s in snapshot.subnets() if self._ours(s)]
        ips = snapshot.of_kind("IP") if not clusters or check_mode else client.list("IP")  # the clusters' addresses are gone now
        for subnet in subnets:
            used, named = _network.addresses_in_use(subnet, ips)
            if used and not self.force:
                raise KmetalError("refusing to delete the subnet %s while %d addresses are in use (%s): remove the workloads first or set "
                                  "force: true" % (subnet["metadata"]["name"], used, ", ".join(named[:5]) or "status.v4usingIPs/v6usingIPs"),
                                  obj=who, field="state")
        for subnet in subnets:
            done += self._delete(client, subnet, check_mode, diff, report)
        vpc = snapshot.get("Vpc", self.vpc)
        if vpc is not None and self._ours(vpc):
            names = {s["metadata"]["name"] for s in subnets}
            others = [s["metadata"]["name"] for s in snapshot.subnets() if (s.get("spec") or {}).get("vpc") == self.vpc and s["metadata"]["name"] not in names]
            if others and not self.force:
                raise KmetalError("refusing to delete the VPC %s while subnets %s of others are in it: set force: true" % (self.vpc, others),
                                  obj=who, field="state")
            done += self._delete(client, vpc, check_mode, diff, report)
        if ns_live is not None:
            if _tenant.created_here(ns_live):
                done += self._delete(client, ns_live, check_mode, diff, report)
            else:
                for kind, name, namespace, changed, before, after in _tenant.release_steps(client, ns_live, check_mode):
                    if changed:
                        done += 1
                        record(report, ident(kind, name, namespace), diff, before, after, check_mode)
        return self.status if done else "unchanged"
