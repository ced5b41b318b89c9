"""Survey questions and the module options they feed: the argument specs read from the modules themselves (the
AnsibleModule they construct), walked through the playbook a job template runs."""

import importlib
import re
import sys
from dataclasses import dataclass
from functools import lru_cache

import yaml
from awx_helpers import AWX, REPO

sys.path.insert(0, str(REPO / "collections"))

TEXT = {"text", "textarea", "password"}
EXPR = re.compile(r"{{\s*(.*?)\s*}}")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# tenant_fleet's list items are the per-item modules' options (its DOCUMENTATION says so; its code validates each item
# with those modules' argspecs): tenants[] -> tenant, tenants[].vpc -> vpc, subnets[] -> subnet, clusters[] -> tenant_cluster.
FLEET_ITEMS = {"vpc": "vpc", "subnets": "subnet", "clusters": "tenant_cluster"}
JINJA_WORDS = {"default", "omit", "split", "true", "false", "none", "and", "or", "not", "in", "is", "length", "bool", "int", "string",
               "list", "defined", "ternary", "join", "lower", "upper", "trim", "if", "else"}


class _Captured(Exception):
    def __init__(self, kwargs):
        super().__init__("captured")
        self.kwargs = kwargs


@lru_cache(maxsize=None)
def module_spec(name):
    """(argument_spec, AnsibleModule kwargs, DOCUMENTATION) of kmetal.platform.NAME, as its main() builds them."""
    from ansible.module_utils import basic

    mod = importlib.import_module("ansible_collections.kmetal.platform.plugins.modules.%s" % name)
    original = basic.AnsibleModule.__init__

    def capture(self, *args, **kwargs):
        raise _Captured(kwargs)

    basic.AnsibleModule.__init__ = capture
    try:
        mod.main()
    except _Captured as got:
        kwargs = dict(got.kwargs)
    finally:
        basic.AnsibleModule.__init__ = original
    spec = kwargs.pop("argument_spec")
    return spec, kwargs, yaml.safe_load(mod.DOCUMENTATION)


def required_options(name, args):
    """The options of module NAME that ARGS must give: required in the argspec, required_if/required_one_of met by
    its state, or documented as 'Required with O(state=present)' when the state is present."""
    spec, kwargs, doc = module_spec(name)
    state = args.get("state", spec.get("state", {}).get("default"))
    out = {k for k, v in spec.items() if v.get("required")}
    for key, value, reqs, *_ in kwargs.get("required_if", []):
        if args.get(key, spec.get(key, {}).get("default")) == value:
            out |= set(reqs)
    for opt, docs in doc["options"].items():
        text = " ".join(docs.get("description") if isinstance(docs.get("description"), list) else [docs.get("description", "")])
        if "Required with O(state=present)" in text and state == "present":
            out.add(opt)
    return out


def element_spec(spec):
    out = {"type": spec.get("elements", "raw")}
    if "options" in spec:
        out["options"] = spec["options"]
    if "choices" in spec:
        out["choices"] = spec["choices"]
    return out


@dataclass
class Feed:
    variable: str
    module: str
    path: str
    spec: dict
    kind: str        # direct | split | composite | defaulted


def _variables(expr):
    names = []
    for m in NAME.finditer(re.sub(r"'[^']*'|\"[^\"]*\"", "", expr)):
        before = expr[:m.start()].rstrip()
        if m.group(0) in JINJA_WORDS or before.endswith((".", "|")):
            continue
        names.append(m.group(0))
    return names


def walk(value, spec, module, path, feeds):
    if isinstance(value, str):
        exprs = EXPR.findall(value)
        whole = EXPR.fullmatch(value.strip())
        for expr in exprs:
            kind = "composite"
            if whole:
                if NAME.fullmatch(expr):
                    kind = "direct"
                elif re.fullmatch(r"\w+\s*\|\s*split", expr):
                    kind = "split"
                elif re.fullmatch(r"\w+\s*\|\s*default\(.*\)", expr):
                    kind = "defaulted"
            for var in _variables(expr):
                feeds.append(Feed(var, module, path, spec, kind))
    elif isinstance(value, list):
        assert spec.get("type") == "list", "%s: %s is given a list but is of type %s" % (module, path, spec.get("type"))
        for item in value:
            walk(item, element_spec(spec), module, path + "[]", feeds)
    elif isinstance(value, dict):
        options = spec.get("options")
        assert options is not None, "%s: %s is given a dict but declares no suboptions" % (module, path)
        for key, sub in value.items():
            assert key in options, "%s: %s.%s is not an option of the module" % (module, path, key)
            walk(sub, options[key], module, "%s.%s" % (path, key), feeds)


def module_calls(args_by_module):
    """(module, args) of each call, tenant_fleet's items unfolded into the per-item modules they are validated as."""
    for module, args in args_by_module:
        if module != "tenant_fleet":
            yield module, args
            continue
        yield module, dict(args, tenants=[])  # given; its items are walked as the per-item modules below
        for tenant in args.get("tenants", []):
            yield "tenant", {k: v for k, v in tenant.items() if k not in FLEET_ITEMS}
            for key, item_module in FLEET_ITEMS.items():
                items = tenant.get(key)
                for item in ([items] if isinstance(items, dict) else items or []):
                    yield item_module, item


def playbook_calls(playbook):
    """(module, args) of every kmetal.platform task of PLAYBOOK (a path in the repo), and the play vars."""
    calls, play_vars = [], {}
    for play in yaml.safe_load((REPO / playbook).read_text()):
        play_vars.update(play.get("vars", {}))
        stack = list(play.get("tasks", []))
        while stack:
            task = stack.pop(0)
            stack[:0] = task.get("block", [])
            for key, args in task.items():
                if key.startswith("kmetal.platform."):
                    calls.append((key.split(".")[-1], args))
    return calls, play_vars


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def controller_data():
    data = {}
    for path in sorted((AWX / "config").glob("*.yml")):
        data.update(yaml.load(path.read_text(), Loader=_Loader))
    return data


def surveyed_templates():
    return [t for t in controller_data()["controller_templates"] if t.get("survey_enabled")]
