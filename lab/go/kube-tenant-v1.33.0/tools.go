//go:build tools

// Package tools pins the tenant control-plane commands of Kubernetes v1.33.0 the lab builds: Kamaji (KAMAJI_VERSION)
// admits tenant versions up to the kubeadm it is built with (v1.33.0), so the tenants run v1.33.0 and upgrade from v1.32.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
