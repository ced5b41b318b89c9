# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of the modules' input before any API call: names, addresses, CIDRs, quantities, JSON schemas.

Every check reports the field and the fix; Problems collects them so that one run reports them all.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import KmetalError

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_NETADDR = False

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|[eE][-+]?[0-9]+)?$")
VERSION = re.compile(r"^v\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SHOWN = 100  # characters of a value a message repeats: a 10,000-character name must not make a 20 KB message
QUANTITY_SUFFIX = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
                   "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
                   "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18}


def show(value, limit=SHOWN):
    """VALUE as a message shows it: its repr, cut to LIMIT characters with the full length said."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, (str, list, dict)) else len(text)
    return "%s... (%d characters)" % (text[:limit], size)


def short(text, limit=SHOWN):
    """TEXT (a name inside a message) cut to LIMIT characters."""
    text = str(text)
    return text if len(text) <= limit else "%s... (%d characters)" % (text[:limit], len(text))


def parse_quantity(text):
    """A Kubernetes quantity as a Decimal (None when it is not one), to compare limits with each other."""
    match = re.match(r"^([+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][-+]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$", str(text))
    if not match:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    suffix = match.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * Decimal(QUANTITY_SUFFIX[suffix])


def _is_int_text(value):
    return isinstance(value, str) and re.match(r"^\s*[-+]?[0-9]+\s*$", value) is not None


def check_types(spec, params, prefix=""):
    """What ansible-core's own type checks would refuse with a message naming no field or no fix: a dictionary given
    as a plain string, an integer given as a word. Returns problems as 'option: message'; the argspec validator runs
    after this, on what passed."""
    problems = []
    for key, option in spec.items():
        value = (params or {}).get(key)
        if value is None:
            continue
        field = prefix + key
        wanted = option.get("type", "str")
        if wanted == "int":
            if isinstance(value, bool) or not (isinstance(value, int) or _is_int_text(value) or (isinstance(value, float) and value.is_integer())):
                problems.append("%s: %s is not an integer: give a whole number, e.g. %s" % (field, show(value), option.get("default", 1)))
        elif wanted == "dict":
            if isinstance(value, str) and not value.strip().startswith("{") and "=" not in value:
                keys = ", ".join(sorted(option.get("options") or {})) or "KEY: VALUE"
                problems.append("%s: %s is not a dictionary: give its keys and values (%s), e.g. %s: {%s}"
                                % (field, show(value), keys, key, ", ".join("%s: ..." % k for k in sorted(option.get("options") or {})[:2])))
            elif isinstance(value, dict) and option.get("options"):
                problems.extend(check_types(option["options"], value, field + "."))
        elif wanted == "list" and option.get("elements") == "dict" and isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    problems.append("%s[%d]: %s is not a dictionary" % (field, i, show(item)))
                elif option.get("options"):
                    problems.extend(check_types(option["options"], item, "%s[%d]." % (field, i)))
    return problems


class Problems(object):
    """Every validation problem of one input, raised together as one KmetalError."""

    def __init__(self, obj):
        self.obj = short(obj) if obj else obj
        self.items = []

    def add(self, field, msg):
        self.items.append("%s: %s" % (field, msg))

    def raise_if_any(self):
        if self.items:
            raise KmetalError("invalid input: " + "; ".join(self.items), obj=self.obj, problems=list(self.items))

    # -- names ----------------------------------------------------------------------------------------------
    def label_name(self, field, value, max_len=63):
        """A DNS-1123 label (namespace, VPC, subnet, cluster names). Returns VALUE or None when invalid."""
        if value is None or value == "":
            self.add(field, "is required")
            return None
        if not isinstance(value, str) or len(value) > max_len or not DNS1123_LABEL.match(value):
            self.add(field, "%s is not a valid name: use at most %d lower-case letters, digits and '-', starting and ending "
                            "with a letter or digit (DNS-1123 label)" % (show(value), max_len))
            return None
        return value

    def subdomain(self, field, value, max_len=253):
        if not isinstance(value, str) or len(value) > max_len or not DNS1123_SUBDOMAIN.match(value):
            self.add(field, "%s is not a valid DNS-1123 subdomain: lower-case letters, digits, '-' and '.'" % show(value))
            return None
        return value

    def labels(self, field, labels):
        for key, value in (labels or {}).items():
            if not LABEL_KEY.match(str(key)) or len(str(key).rsplit("/", maxsplit=1)[-1]) > 63:
                self.add("%s.%s" % (field, short(key)), "is not a valid label key (an optional DNS prefix and '/', then at most 63 "
                                                        "letters, digits, '-', '_' or '.')")
            if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
                self.add("%s.%s" % (field, short(key)), "value %s is not a valid label value (at most 63 letters, digits, '-', '_' "
                                                        "or '.'; quote numbers and booleans)" % show(value))

    # -- numbers ----------------------------------------------------------------------------------------------
    def int_range(self, field, value, low, high):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(field, "%s is not an integer: give a whole number from %d to %d" % (show(value), low, high))
            return None
        if not low <= value <= high:
            self.add(field, "%r is out of range: give an integer from %d to %d" % (value, low, high))
            return None
        return value

    def quantity(self, field, value):
        if value is None:
            return None
        text = str(value)
        if isinstance(value, bool) or not QUANTITY.match(text):
            self.add(field, "%s is not a Kubernetes quantity: write e.g. 500m, 4, 16Gi or 2Ti" % show(value))
            return None
        return text

    def version(self, field, value):
        if not isinstance(value, str) or not VERSION.match(value):
            self.add(field, "%s is not a Kubernetes version: write it as vMAJOR.MINOR.PATCH, e.g. v1.34.1" % show(value))
            return None
        return value

    # -- addresses ------------------------------------------------------------------------------------------
    def cidr(self, field, value):
        """An IPv4 or IPv6 network in CIDR notation with no host bits set. Returns a netaddr.IPNetwork or None."""
        if not isinstance(value, str) or "/" not in value:
            self.add(field, "%s is not a CIDR: write a network as ADDRESS/PREFIX, e.g. 10.200.0.0/24 or fd00:10::/64" % show(value))
            return None
        try:
            net = netaddr.IPNetwork(value.strip())
        except (netaddr.AddrFormatError, ValueError, TypeError):
            self.add(field, "%s is not a CIDR: write a network as ADDRESS/PREFIX, e.g. 10.200.0.0/24 or fd00:10::/64" % show(value))
            return None
        if net.ip != net.network:
            self.add(field, "%r has host bits set: the network is %s" % (value, net.cidr))
            return None
        return net

    def ip(self, field, value, version=None):
        """One IP address (of VERSION 4 or 6 when given). Returns a netaddr.IPAddress or None."""
        try:
            if not isinstance(value, str) or "/" in value:
                raise ValueError(value)
            addr = netaddr.IPAddress(value.strip())
        except (netaddr.AddrFormatError, ValueError, TypeError):
            self.add(field, "%s is not an IP address: write e.g. 10.200.0.1 or fd00:10::1" % show(value))
            return None
        if version and addr.version != version:
            self.add(field, "%s is an IPv%d address where an IPv%d one is needed" % (value, addr.version, version))
            return None
        return addr


def first_usable(net):
    """The default gateway of a subnet: the first usable address (network + 1)."""
    return netaddr.IPAddress(int(net.network) + 1, net.version)


def usable(addr, net):
    """True when ADDR is a host address of NET (not its network or, for IPv4, broadcast address)."""
    if addr not in net:
        return False
    if net.version == 4 and net.prefixlen < 31:
        return addr != net.network and addr != net.broadcast
    return True


def overlaps(a, b):
    return a.first <= b.last and b.first <= a.last


# -- a JSON schema subset, for ClusterClass variables ------------------------------------------------------------
_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def schema_errors(value, schema, path):
    """Problems of VALUE against an OpenAPI v3 schema (the subset structural CRD schemas use): type, enum, required,
    properties, additionalProperties, items, min/max, lengths, pattern, formats ipv4/ipv6/cidr. Unknown keywords
    are ignored (the API server has the last word)."""
    errors = []
    if schema is None:
        return errors
    if value is None:
        if not schema.get("nullable"):
            errors.append("%s: must not be null" % path)
        return errors
    stype = schema.get("type")
    if stype and stype in _TYPES and not _TYPES[stype](value):
        if not (schema.get("x-kubernetes-int-or-string") and isinstance(value, (int, str))):
            errors.append("%s: %r is a %s where the ClusterClass wants a %s" % (path, value, type(value).__name__, stype))
            return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of %s" % (path, value, ", ".join(repr(e) for e in schema["enum"])))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append("%s: %r is shorter than %d characters" % (path, value, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append("%s: %r is longer than %d characters" % (path, value, schema["maxLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append("%s: %r does not match the pattern %s" % (path, value, schema["pattern"]))
        fmt = schema.get("format")
        if fmt in ("ipv4", "ipv6") and HAS_NETADDR:
            try:
                ok = netaddr.IPAddress(value).version == int(fmt[-1])
            except (netaddr.AddrFormatError, ValueError):
                ok = False
            if not ok:
                errors.append("%s: %r is not an %s address" % (path, value, fmt.upper().replace("IPV", "IPv")))
        if fmt == "cidr" and HAS_NETADDR:
            try:
                netaddr.IPNetwork(value)
            except (netaddr.AddrFormatError, ValueError):
                errors.append("%s: %r is not a CIDR" % (path, value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: %r is below the minimum %s" % (path, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: %r is above the maximum %s" % (path, value, schema["maximum"]))
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                errors.append("%s.%s: is required by the ClusterClass" % (path, key))
        extra = schema.get("additionalProperties")
        for key, sub in value.items():
            if key in props:
                errors.extend(schema_errors(sub, props[key], "%s.%s" % (path, key)))
            elif isinstance(extra, dict):
                errors.extend(schema_errors(sub, extra, "%s.%s" % (path, key)))
            elif props and extra is not True and not schema.get("x-kubernetes-preserve-unknown-fields"):
                errors.append("%s.%s: is not a field the ClusterClass declares (known: %s)" % (path, key, ", ".join(sorted(props))))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append("%s: has %d items, fewer than %d" % (path, len(value), schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append("%s: has %d items, more than %d" % (path, len(value), schema["maxItems"]))
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                errors.extend(schema_errors(item, schema["items"], "%s[%d]" % (path, i)))
    return errors


def check_class_variables(variables, cluster_class):
    """Problems of VARIABLES ([{name, value}]) against CLUSTER_CLASS's spec.variables: unknown names, missing
    required ones, and values against each declared openAPIV3Schema."""
    declared = {}
    for var in (cluster_class.get("spec") or {}).get("variables") or []:
        declared[var.get("name")] = var
    for var in ((cluster_class.get("status") or {}).get("variables") or []):
        # status.variables merges the class's own and the patches' external definitions
        if var.get("name") not in declared and var.get("definitions"):
            declared[var["name"]] = dict(var["definitions"][0], name=var["name"])
    errors = []
    given = {v["name"]: v.get("value") for v in variables}
    for name, value in given.items():
        if name not in declared:
            errors.append("variables.%s: the ClusterClass declares no such variable (it declares: %s)" % (name, ", ".join(sorted(declared)) or "none"))
            continue
        schema = ((declared[name].get("schema") or {}).get("openAPIV3Schema")) or {}
        errors.extend(schema_errors(value, schema, "variables.%s" % name))
    for name, var in declared.items():
        if var.get("required") and name not in given:
            errors.append("variables.%s: is required by the ClusterClass" % name)
    return errors
