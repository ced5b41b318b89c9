//go:build tools

// Package tools pins the etcd server that kubeadm v1.33 asks for (registry.k8s.io/etcd:3.5.24-0). Its etcdctl
// is left out: it needs etcdutl v3.5.24, which the checksum database does not know (404).
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
