//go:build tools

// Package tools pins the Cluster API core and kubeadm bootstrap managers the lab builds.
package tools

import (
	_ "sigs.k8s.io/cluster-api"
	_ "sigs.k8s.io/cluster-api/bootstrap/kubeadm"
)
