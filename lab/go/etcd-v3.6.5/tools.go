//go:build tools

// Package tools pins the etcd server that kubeadm v1.34 asks for (registry.k8s.io/etcd:3.6.5-0) the lab builds.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/etcdutl/v3"
)
