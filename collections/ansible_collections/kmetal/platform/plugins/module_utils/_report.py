# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet picture: tenants -> VPCs -> subnets -> clusters read with the _info functions (one LIST per kind) and
drawn with Graphviz's dot as an SVG and a self-contained HTML page."""

from __future__ import annotations

import html
import os
import tempfile

from ansible_collections.kmetal.platform.plugins.module_utils import _info
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import TENANT_LABEL, KmetalError

try:
    import graphviz
    HAS_GRAPHVIZ = True
    GRAPHVIZ_IMPORT_ERROR = None
except ImportError as _err:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_GRAPHVIZ = False
    GRAPHVIZ_IMPORT_ERROR = _err

REPORT_ARGS = dict(
    svg_path={"type": "path"},
    html_path={"type": "path"},
    title={"type": "str", "default": "kMetal fleet"},
    mode={"type": "str", "default": "0644"},
)

# cluster phase / Ready condition -> fill colour: what an operator should look at first stands out
COLOURS = {"ok": "#d9f2d9", "busy": "#fff2cc", "bad": "#f8d0d0", "unknown": "#e8e8e8"}


class _Params(object):
    """What the _info functions read of a module: its params."""

    def __init__(self, **params):
        self.params = params
        self.check_mode = True


class _OneListPerKind(object):
    """The client, with each LIST made once: tenant_info and cluster_info both list Clusters."""

    def __init__(self, client):
        self.client = client
        self.cache = {}

    def list(self, kind, namespace=None, label_selector=None, **kwargs):
        key = (kind, namespace, label_selector)
        if key not in self.cache:
            self.cache[key] = self.client.list(kind, namespace, label_selector=label_selector, **kwargs)
        return self.cache[key]


def read_fleet(connect):
    """The fleet as nested dicts, sorted by name: [{tenant, vpcs: [{subnets: [{clusters}]}], clusters (no subnet)}]."""
    client = _OneListPerKind(connect())

    def cached():
        return client

    tenants = _info.tenant_info(_Params(name=None), cached)["tenants"]
    vpcs = [v for v in _info.vpc_info(_Params(name=None, tenant=None), cached)["vpcs"] if (v["metadata"].get("labels") or {}).get(TENANT_LABEL)]
    subnets = _info.subnet_info(_Params(name=None, vpc=None, tenant=None), cached)["subnets"]
    clusters = _info.cluster_info(_Params(name=None, tenant=None, namespace=None), cached)
    vlans = {v["metadata"]["name"]: v for v in client.list("Vlan")}

    by_vpc = {}
    for s in subnets:
        spec = s.get("spec") or {}
        vlan = vlans.get(spec.get("vlan")) if spec.get("vlan") else None
        by_vpc.setdefault(spec.get("vpc"), []).append({
            "name": s["metadata"]["name"], "cidr": spec.get("cidrBlock"), "gateway": spec.get("gateway"),
            "protocol": spec.get("protocol"), "vlan": spec.get("vlan"), "mtu": spec.get("mtu"),
            "vlan_id": ((vlan or {}).get("spec") or {}).get("id"), "provider": ((vlan or {}).get("spec") or {}).get("provider"),
            "clusters": []})
    subnet_of = {}
    for vpc_subnets in by_vpc.values():
        for s in vpc_subnets:
            subnet_of[s["name"]] = s
    by_tenant = {}
    for obj, summary in zip(clusters["clusters"], clusters["summaries"]):
        entry = dict(summary, subnet=_cluster_subnet(obj), status=cluster_status(summary))
        by_tenant.setdefault(summary["namespace"], []).append(entry)
    fleet = []
    for t in tenants:
        entry = {"name": t["name"], "namespace": t["namespace"], "phase": t["phase"], "quota": t["quota"]["hard"],
                 "vpcs": [], "clusters": []}
        for v in vpcs:
            if (v["metadata"].get("labels") or {}).get(TENANT_LABEL) == t["name"]:
                entry["vpcs"].append({"name": v["metadata"]["name"], "subnets": by_vpc.get(v["metadata"]["name"], []),
                                      "enable_external": (v.get("spec") or {}).get("enableExternal", False)})
        own = {s["name"] for v in entry["vpcs"] for s in v["subnets"]}
        for c in by_tenant.get(t["namespace"], []):
            if c["subnet"] in own:
                subnet_of[c["subnet"]]["clusters"].append(c)
            else:
                entry["clusters"].append(c)
        fleet.append(entry)
    return fleet


def _cluster_subnet(obj):
    for var in ((obj.get("spec") or {}).get("topology") or {}).get("variables") or []:
        if var.get("name") == "network" and isinstance(var.get("value"), dict):
            return var["value"].get("subnet")
    return None


def cluster_status(summary):
    """A word and a colour class for a cluster: its phase, with the Ready condition when there is one."""
    phase = summary.get("phase") or "Pending"
    ready = (summary.get("conditions") or {}).get("Ready") or (summary.get("conditions") or {}).get("Available")
    if phase == "Failed" or ready == "False" and phase in ("Provisioned", "Ready"):
        return {"text": phase if phase == "Failed" else "%s, not ready" % phase, "class": "bad"}
    if phase in ("Provisioned", "Ready") and ready in (None, "True"):
        return {"text": phase, "class": "ok"}
    if phase in ("Pending", "Provisioning", "Deleting"):
        return {"text": phase, "class": "busy"}
    return {"text": phase, "class": "unknown"}


def _row(text, bold=False, size=None, colour=None):
    body = html.escape(str(text))
    if bold:
        body = "<B>%s</B>" % body
    attrs = ""
    if size:
        attrs += ' POINT-SIZE="%s"' % size
    if colour:
        attrs += ' COLOR="%s"' % colour
    if attrs:
        body = "<FONT%s>%s</FONT>" % (attrs, body)
    return "<TR><TD ALIGN=\"LEFT\">%s</TD></TR>" % body


def _label(title, kind, lines):
    rows = [_row(kind, size=9, colour="#555555"), _row(title, bold=True)] + [_row(line, size=10) for line in lines if line]
    return "<<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"1\">%s</TABLE>>" % "".join(rows)


def _subnet_lines(s):
    lines = ["CIDR %s" % s["cidr"]]
    if s.get("gateway"):
        lines.append("gateway %s" % s["gateway"])
    if s.get("vlan"):
        lines.append("VLAN %s (%s on %s)" % (s["vlan_id"] if s["vlan_id"] is not None else "?", s["vlan"], s.get("provider") or "?"))
    else:
        lines.append("overlay (Geneve)")
    if s.get("mtu"):
        lines.append("MTU %s" % s["mtu"])
    return lines


def _cluster_lines(c):
    return ["Kubernetes %s" % (c.get("version") or "?"), "status: %s" % c["status"]["text"]]


def graph(fleet, title):
    """The fleet as a graphviz Digraph: one box per tenant with its VPCs, subnets and clusters, left to right."""
    dot = graphviz.Digraph("fleet", graph_attr={"rankdir": "LR", "label": title, "labelloc": "t", "fontname": "Helvetica", "fontsize": "18",
                                                "nodesep": "0.25", "ranksep": "0.6", "bgcolor": "white"},
                           node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica", "fillcolor": "#ffffff", "color": "#777777"},
                           edge_attr={"color": "#888888", "arrowsize": "0.6"})
    if not fleet:
        dot.node("empty", "No tenants in this fleet yet", shape="plaintext", fontsize="14")
        return dot
    for t_index, t in enumerate(fleet):
        with dot.subgraph(name="cluster_t%d" % t_index) as sub:
            sub.attr(label="", style="rounded,dashed", color="#4a6fa5")
            tid = "t%d" % t_index
            quota = ", ".join("%s %s" % (k.replace("requests.", ""), v) for k, v in sorted(t["quota"].items())
                              if k in ("requests.cpu", "requests.memory", "requests.storage"))
            sub.node(tid, _label(t["name"], "tenant", ["namespace %s" % t["namespace"], t["phase"] and "phase %s" % t["phase"], quota]),
                     fillcolor="#dde7f5")
            for v_index, v in enumerate(t["vpcs"]):
                vid = "%s_v%d" % (tid, v_index)
                sub.node(vid, _label(v["name"], "VPC", ["%d subnet%s" % (len(v["subnets"]), "" if len(v["subnets"]) == 1 else "s"),
                                                        v["enable_external"] and "external gateway"]), fillcolor="#eef3fa")
                sub.edge(tid, vid)
                for s_index, s in enumerate(v["subnets"]):
                    sid = "%s_s%d" % (vid, s_index)
                    sub.node(sid, _label(s["name"], "subnet", _subnet_lines(s)), fillcolor="#f7f9fc")
                    sub.edge(vid, sid)
                    for c_index, c in enumerate(s["clusters"]):
                        cid = "%s_c%d" % (sid, c_index)
                        sub.node(cid, _label(c["name"], "cluster", _cluster_lines(c)), fillcolor=COLOURS[c["status"]["class"]])
                        sub.edge(sid, cid)
            for c_index, c in enumerate(t["clusters"]):
                cid = "%s_c%d" % (tid, c_index)
                sub.node(cid, _label(c["name"], "cluster", _cluster_lines(c) + ["no subnet of the tenant's VPCs"]), fillcolor=COLOURS[c["status"]["class"]])
                sub.edge(tid, cid, style="dashed")
    return dot


def render_svg(fleet, title):
    try:
        svg = graph(fleet, title).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise KmetalError("drawing needs Graphviz's dot program on the controller: install it (Debian: apt-get install graphviz)")
    except graphviz.CalledProcessError as err:
        raise KmetalError("Graphviz's dot failed: %s" % (err.stderr or err))
    # the XML prolog and DOCTYPE are for a standalone file; inline in HTML they are dropped
    return svg


def _inline(svg):
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.4em; }}
.picture {{ overflow: auto; border: 1px solid #ddd; padding: .5em; }}
.picture svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin-top: 1em; font-size: .9em; }}
th, td {{ border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }}
th {{ background: #f0f3f8; }}
.ok {{ background: {ok}; }} .busy {{ background: {busy}; }} .bad {{ background: {bad}; }} .unknown {{ background: {unknown}; }}
.empty {{ font-size: 1.2em; padding: 2em; border: 1px dashed #aaa; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{summary}</p>
{body}
</body>
</html>
"""


def render_html(fleet, title, svg):
    """One page with nothing to fetch: the SVG inline, and the same facts as a table to search and copy."""
    counts = counts_of(fleet)
    if not fleet:
        body = '<p class="empty">No tenants: this fleet has no namespaces labelled %s yet. Declare tenants in the inventory ' \
               '(kmetal_tenants) or with kmetal.platform.tenant, then run the report again.</p>' % html.escape(TENANT_LABEL)
        summary = "0 tenants."
    else:
        summary = "%(tenants)d tenants, %(vpcs)d VPCs, %(subnets)d subnets, %(clusters)d clusters." % counts
        rows = []
        for t in fleet:
            for v in t["vpcs"] or [None]:
                for s in (v or {}).get("subnets") or [None]:
                    for c in (s or {}).get("clusters") or [None]:
                        rows.append(_table_row(t, v, s, c))
            for c in t["clusters"]:
                rows.append(_table_row(t, None, None, c))
        body = '<div class="picture">%s</div>\n<table>\n<tr><th>tenant</th><th>namespace</th><th>VPC</th><th>subnet</th><th>CIDR</th>' \
               '<th>VLAN</th><th>cluster</th><th>version</th><th>status</th></tr>\n%s\n</table>' % (_inline(svg), "\n".join(rows))
    return PAGE.format(title=html.escape(title), summary=summary, body=body, **COLOURS)


def _table_row(t, v, s, c):
    cells = [t["name"], t["namespace"], (v or {}).get("name", ""), (s or {}).get("name", ""), (s or {}).get("cidr", ""),
             "" if not s or not s.get("vlan") else "%s (%s)" % (s.get("vlan_id"), s["vlan"]),
             (c or {}).get("name", ""), (c or {}).get("version", "") or "", (c or {}).get("status", {}).get("text", "")]
    cls = ' class="%s"' % c["status"]["class"] if c else ""
    return "<tr%s>%s</tr>" % (cls, "".join("<td>%s</td>" % html.escape(str(x)) for x in cells))


def counts_of(fleet):
    return {"tenants": len(fleet), "vpcs": sum(len(t["vpcs"]) for t in fleet),
            "subnets": sum(len(v["subnets"]) for t in fleet for v in t["vpcs"]),
            "clusters": sum(len(t["clusters"]) + sum(len(s["clusters"]) for v in t["vpcs"] for s in v["subnets"]) for t in fleet)}


def _write(path, text, mode, field):
    """Write TEXT to PATH atomically when it differs; returns whether it did."""
    data = text.encode("utf-8")
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except OSError:
        pass
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise KmetalError("the directory %s does not exist: create it first" % directory, field=field)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".fleet-report-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def _would_change(path, text):
    try:
        with open(path, "rb") as handle:
            return handle.read() != text.encode("utf-8")
    except OSError:
        return True


def report(module, connect):
    """Read the fleet, draw it, write the files that differ (none in check mode)."""
    p = module.params
    if not p.get("svg_path") and not p.get("html_path"):
        raise KmetalError("give svg_path, html_path or both: where to write the picture", field="svg_path")
    try:
        mode = int(str(p["mode"]), 8)
    except ValueError:
        raise KmetalError("%r is not an octal file mode; give e.g. '0644'" % (p["mode"],), field="mode")
    if not HAS_GRAPHVIZ:
        raise KmetalError("the graphviz Python library is required on the controller: %s" % GRAPHVIZ_IMPORT_ERROR)
    fleet = read_fleet(connect)
    svg = render_svg(fleet, p["title"])
    page = render_html(fleet, p["title"], svg)
    written, would = [], []
    for field, text in (("svg_path", svg), ("html_path", page)):
        path = p.get(field)
        if not path:
            continue
        if module.check_mode:
            if _would_change(path, text):
                would.append(path)
        elif _write(path, text, mode, field):
            written.append(path)
    result = {"changed": bool(written or would), "written": written, "counts": counts_of(fleet), "fleet": fleet}
    if module.check_mode:
        result["would_write"] = would
        result["msg"] = "check mode: would write %s" % ", ".join(would) if would else "check mode: the report is up to date"
    return result
