# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one entry every module goes through: the shared argspec, and KmetalError turned into fail_json in one place."""

from __future__ import annotations

import copy

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.kmetal.platform.plugins.module_utils import _k8s
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import KmetalError
from ansible_collections.kmetal.platform.plugins.module_utils._validate import HAS_NETADDR, check_types

# The auth options of kubernetes.core, with the same K8S_AUTH_* environment variables (doc fragment: _auth).
AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "path", "fallback": (env_fallback, ["K8S_AUTH_KUBECONFIG"])},
    "context": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_CONTEXT"])},
    "host": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_HOST"])},
    "api_key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_API_KEY"])},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"], "fallback": (env_fallback, ["K8S_AUTH_VERIFY_SSL"])},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], "fallback": (env_fallback, ["K8S_AUTH_SSL_CA_CERT"])},
    "client_cert": {"type": "path", "aliases": ["cert_file"], "fallback": (env_fallback, ["K8S_AUTH_CERT_FILE"])},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_KEY_FILE"])},
    "proxy": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_PROXY"])},
    "request_timeout": {"type": "float", "default": 20.0},
}


def argspec(**options):
    """A module's argspec: its own OPTIONS plus the shared auth options."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(options)
    return spec


class _Module(AnsibleModule):
    """AnsibleModule whose input first goes through check_types: ansible-core's own message for quota: "cpu" names
    no field, and for mtu: "abc" says nothing of what to give."""

    def _set_internal_properties(self, argument_spec=None, module_parameters=None):
        super()._set_internal_properties(argument_spec, module_parameters)
        if argument_spec is not None:
            return  # a sub-spec pass of ansible-core: the whole input was checked on the first pass
        problems = check_types(self.argument_spec, self.params)
        if problems:
            # the secrets of the shared options are top-level (api_key, client_key): keep them out of the failure
            self.no_log_values.update(str(self.params[k]) for k, o in self.argument_spec.items() if o.get("no_log") and self.params.get(k))
            self.fail_json(msg="invalid input: " + "; ".join(problems), problems=problems)


def run(argument_spec, action, **module_args):
    """Build the module, run ACTION(module, connect) and exit; every KmetalError becomes fail_json here.

    ACTION validates its input first and calls connect() only when it needs the API, so bad input never
    costs a request.
    """
    module = _Module(argument_spec=argument_spec, supports_check_mode=True, **module_args)
    if not _k8s.HAS_HTTP_YAML:
        module.fail_json(msg=missing_required_lib("urllib3 and PyYAML"), exception=str(_k8s.HTTP_YAML_IMPORT_ERROR))
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"))
    clients = []

    def connect():
        if not clients:
            clients.append(_k8s.Client(module.params))
        return clients[0]

    try:
        result = action(module, connect)
    except KmetalError as err:
        extra = {k: v for k, v in err.details.items() if v is not None}
        if err.status:
            extra["status"] = err.status
        if clients:
            extra["api_requests"] = clients[0].requests
        # a run that wrote before it failed says so: changed and what it wrote
        extra["changed"] = bool(extra.get("written"))
        module.fail_json(msg=str(err), **extra)
    if clients:
        result.setdefault("api_requests", clients[0].requests)
    module.exit_json(**result)
