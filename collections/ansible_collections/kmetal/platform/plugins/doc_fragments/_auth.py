# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options every kmetal.platform Kubernetes module shares: how it reaches and authenticates to the API."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file.
      - When neither O(kubeconfig) nor O(host) is given, the file named by E(KUBECONFIG) or C(~/.kube/config) is read.
      - In a pod (E(KUBERNETES_SERVICE_HOST) set) with none of these, the pod's service account is used, as with kubectl.
      - Client certificates, tokens and token files are read directly; exec plugins (token or client certificate)
        and auth-provider users (gcp, oidc) go through the kubernetes Python library's loader. Username and password
        (basic auth, removed from Kubernetes in 1.19) are refused.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: path
  context:
    description:
      - The kubeconfig context to use; the current context when omitted.
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - The API server URL, for example C(https://10.0.0.10:6443). Overrides the kubeconfig's server.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - A bearer token to authenticate with.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Verified by default; only turn it off in a throwaway lab.
      - Can also be set with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate that signed the API server's certificate.
      - Can also be set with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate for TLS client authentication.
      - Can also be set with the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the private key of O(client_cert).
      - Can also be set with the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - A proxy URL to reach the API server through, C(http://[USER:PASSWORD@]HOST:PORT) (the credentials are sent as
        C(Proxy-Authorization)) or C(socks5://...) (needs the PySocks Python library).
      - Overrides the kubeconfig's C(proxy-url); without either, E(HTTPS_PROXY) (or E(HTTP_PROXY) for an http server)
        is used unless E(NO_PROXY) matches the server (C(*), a host, a domain and its subdomains, an IP or a CIDR).
      - Can also be set with the E(K8S_AUTH_PROXY) environment variable.
    type: str
  request_timeout:
    description:
      - Seconds one API request may take, retries included (retries on 429, 5xx and dropped connections back off
        exponentially within this time). An unreachable API server fails within it.
    type: float
    default: 20
requirements:
  - urllib3
  - PyYAML
  - netaddr
  - kubernetes (the Python client), only for exec, auth-provider and in-cluster credentials
  - PySocks, only for socks5 proxies
notes:
  - The modules talk to fixed API paths (their kinds are known), so they make no discovery requests.
  - Writes are server-side apply with the field manager C(kmetal-platform); check mode sends the same write with C(dryRun=All).
  - All modules are in the action group C(kmetal.platform.k8s), so C(module_defaults) with C(group/kmetal.platform.k8s) sets these options once.
"""
