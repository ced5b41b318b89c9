# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-tenant autoscaling that the modules do not fight: bounds as annotations (replicas left to the autoscaler) and,
for a machine deployment that may scale to zero, the capacity the cluster-autoscaler cannot read from a node that
does not exist (its clusterapi provider's scale-from-zero annotations), from the machine size."""

from __future__ import annotations

CAPACITY = "capacity.cluster-autoscaler.kubernetes.io/"
# The capacity keys and the annotation each becomes (the clusterapi provider's names).
CAPACITY_KEYS = {"cpu": "cpu", "memory": "memory", "ephemeral_disk": "ephemeral-disk", "max_pods": "maxPods",
                 "gpu_type": "gpu-type", "gpu_count": "gpu-count"}

# The machine sizes of the chart's ClusterClass (charts/kmetal values tenants.machineSizes, the platform role's
# platform_machine_sizes): keep in step, or pass the site's own as machine_sizes.
MACHINE_SIZES = {
    "small": {"cores": 2, "memory": "4Gi", "disk": "20Gi"},
    "medium": {"cores": 4, "memory": "8Gi", "disk": "40Gi"},
    "large": {"cores": 8, "memory": "16Gi", "disk": "80Gi"},
}

AUTOSCALING_ARGS = dict(
    machine_sizes={"type": "dict"},
)
CAPACITY_OPTION = {"type": "dict", "options": {
    "cpu": {"type": "str"},
    "memory": {"type": "str"},
    "ephemeral_disk": {"type": "str"},
    "max_pods": {"type": "int"},
    "gpu_type": {"type": "str"},
    "gpu_count": {"type": "int"},
}}


def size_capacity(size):
    """The capacity a node of machine size SIZE ({cores, memory, disk, gpus: [{name, count}]}) reports."""
    out = {"cpu": size.get("cores"), "memory": size.get("memory"), "ephemeral_disk": size.get("disk")}
    gpus = size.get("gpus") or []
    if gpus:
        out["gpu_type"] = gpus[0].get("resource") or gpus[0].get("name")
        out["gpu_count"] = sum(int(g.get("count", 1)) for g in gpus)
    return {k: v for k, v in out.items() if v is not None}


def scale_from_zero(worker, field, p, problems):
    """The capacity annotations of WORKER (a workers[] entry) when its min_size is 0, else {}. Its size is its class
    when that names a machine size, else the cluster's machine_size (the default-worker class)."""
    if worker.get("min_size") != 0:
        return {}
    sizes = p.get("machine_sizes") or MACHINE_SIZES
    capacity = {}
    klass = worker.get("class") or "default-worker"
    size = klass if klass in sizes else p.get("machine_size")
    if size in sizes:
        capacity.update(size_capacity(sizes[size] or {}))
    capacity.update({k: v for k, v in (worker.get("capacity") or {}).items() if v is not None})
    if not capacity.get("cpu") or not capacity.get("memory"):
        problems.add(field + ".min_size", "0 lets the autoscaler scale from zero, which needs the machine's capacity: %s; add the size to "
                                          "machine_sizes or give %s.capacity (cpu and memory)"
                     % ("the machine size %r is not in machine_sizes (known: %s)" % (size, ", ".join(sorted(sizes))) if size
                        else "the cluster gives no machine_size", field))
        return {}
    for key in ("cpu", "memory", "ephemeral_disk"):
        if capacity.get(key) is not None:
            problems.quantity("%s.capacity.%s" % (field, key), capacity[key])
    return {CAPACITY + CAPACITY_KEYS[k]: str(v) for k, v in sorted(capacity.items()) if v is not None}
