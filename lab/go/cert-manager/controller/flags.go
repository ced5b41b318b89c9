package main

import (
	"strings"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	defaults "github.com/cert-manager/cert-manager/internal/apis/config/controller/v1alpha1"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

// addFlags binds the controller's flags (the names cert-manager v1.19's controller takes) to c's fields; each
// flag's default is c's current value.
func addFlags(fs *pflag.FlagSet, c *config.ControllerConfiguration) {
	// Reaching the API server.
	fs.StringVar(&c.APIServerHost, "master", c.APIServerHost, "API server address (default: from the kubeconfig or the in-cluster config)")
	fs.StringVar(&c.KubeConfig, "kubeconfig", c.KubeConfig, "Path to a kubeconfig; only needed out of cluster")
	fs.Float32Var(&c.KubernetesAPIQPS, "kube-api-qps", c.KubernetesAPIQPS, "Queries per second to the API server")
	fs.IntVar(&c.KubernetesAPIBurst, "kube-api-burst", c.KubernetesAPIBurst, "Burst of queries to the API server")

	// Scope.
	fs.StringVar(&c.ClusterResourceNamespace, "cluster-resource-namespace", c.ClusterResourceNamespace, "Namespace holding the Secrets of cluster-scoped resources such as ClusterIssuers")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "Watch this namespace only (ClusterIssuers are then disabled); empty: all namespaces")

	// Leader election.
	le := &c.LeaderElectionConfig
	fs.BoolVar(&le.Enabled, "leader-elect", le.Enabled, "Elect a leader among the running instances; only the leader runs the controllers")
	fs.StringVar(&le.Namespace, "leader-election-namespace", le.Namespace, "Namespace of the leader election Lease")
	fs.DurationVar(&le.LeaseDuration, "leader-election-lease-duration", le.LeaseDuration, "How long a candidate waits after the last renewal before taking over the lease")
	fs.DurationVar(&le.RenewDeadline, "leader-election-renew-deadline", le.RenewDeadline, "How long the leader keeps trying to renew before it gives up leading (at most the lease duration)")
	fs.DurationVar(&le.RetryPeriod, "leader-election-retry-period", le.RetryPeriod, "Time between attempts to acquire or renew the lease")

	// Which controllers run.
	fs.StringSliceVar(&c.Controllers, "controllers", c.Controllers, "Controllers to run: '*' is every controller on by default, 'foo' adds foo, '-foo' removes it. All: "+
		strings.Join(defaults.AllControllers, ", "))

	// ACME HTTP-01 solver pods.
	h := &c.ACMEHTTP01Config
	fs.StringVar(&h.SolverImage, "acme-http01-solver-image", h.SolverImage, "Image of the pods that answer ACME HTTP-01 challenges")
	fs.StringVar(&h.SolverResourceRequestCPU, "acme-http01-solver-resource-request-cpu", h.SolverResourceRequestCPU, "CPU request of the HTTP-01 solver pods")
	fs.StringVar(&h.SolverResourceRequestMemory, "acme-http01-solver-resource-request-memory", h.SolverResourceRequestMemory, "Memory request of the HTTP-01 solver pods")
	fs.StringVar(&h.SolverResourceLimitsCPU, "acme-http01-solver-resource-limits-cpu", h.SolverResourceLimitsCPU, "CPU limit of the HTTP-01 solver pods")
	fs.StringVar(&h.SolverResourceLimitsMemory, "acme-http01-solver-resource-limits-memory", h.SolverResourceLimitsMemory, "Memory limit of the HTTP-01 solver pods")
	fs.BoolVar(&h.SolverRunAsNonRoot, "acme-http01-solver-run-as-non-root", h.SolverRunAsNonRoot, "Run the HTTP-01 solver pods as a non-root user")
	fs.StringSliceVar(&h.SolverNameservers, "acme-http01-solver-nameservers", h.SolverNameservers, "host:port DNS servers for the HTTP-01 self check, comma separated")

	// Credentials from the environment.
	fs.BoolVar(&c.ClusterIssuerAmbientCredentials, "cluster-issuer-ambient-credentials", c.ClusterIssuerAmbientCredentials, "Let ClusterIssuers use ambient credentials (metadata services, environment, local files)")
	fs.BoolVar(&c.IssuerAmbientCredentials, "issuer-ambient-credentials", c.IssuerAmbientCredentials, "Let Issuers use ambient credentials (metadata services, environment, local files)")

	// ingress-shim.
	s := &c.IngressShimConfig
	fs.StringSliceVar(&s.DefaultAutoCertificateAnnotations, "auto-certificate-annotations", s.DefaultAutoCertificateAnnotations, "Ingress annotations that ask ingress-shim for a Certificate")
	fs.StringSliceVar(&s.ExtraCertificateAnnotations, "extra-certificate-annotations", s.ExtraCertificateAnnotations, "Annotations ingress-shim copies onto the Certificates it creates")
	fs.StringVar(&s.DefaultIssuerName, "default-issuer-name", s.DefaultIssuerName, "Issuer name ingress-shim uses when an Ingress names none")
	fs.StringVar(&s.DefaultIssuerKind, "default-issuer-kind", s.DefaultIssuerKind, "Issuer kind ingress-shim uses when an Ingress names none")
	fs.StringVar(&s.DefaultIssuerGroup, "default-issuer-group", s.DefaultIssuerGroup, "Issuer group ingress-shim uses when an Ingress names none")

	// ACME DNS-01 self checks.
	d := &c.ACMEDNS01Config
	fs.StringSliceVar(&d.RecursiveNameservers, "dns01-recursive-nameservers", d.RecursiveNameservers, "DNS servers (host:port or https:// DoH URLs) for the DNS-01 self check, comma separated")
	fs.BoolVar(&d.RecursiveNameserversOnly, "dns01-recursive-nameservers-only", d.RecursiveNameserversOnly, "Ask only the configured recursive servers, never the authoritative ones")
	fs.DurationVar(&d.CheckRetryPeriod, "dns01-check-retry-period", d.CheckRetryPeriod, "Time between propagation checks of DNS-01 and HTTP-01 challenges")

	// Certificates.
	fs.BoolVar(&c.EnableCertificateOwnerRef, "enable-certificate-owner-ref", c.EnableCertificateOwnerRef, "Make each Certificate the owner of its Secret, so deleting the Certificate deletes the Secret")
	fs.BoolVar(&c.EnableGatewayAPI, "enable-gateway-api", c.EnableGatewayAPI, "Watch Gateway API resources (with the ExperimentalGatewayAPISupport feature gate)")
	fs.StringSliceVar(&c.CopiedAnnotationPrefixes, "copied-annotation-prefixes", c.CopiedAnnotationPrefixes, "Annotation key prefixes copied from Certificates to CertificateRequests and Orders; '-prefix' excludes one")
	fs.Var(cliflag.NewMapStringBool(&c.FeatureGates), "feature-gates", "key=value pairs switching features: "+strings.Join(utilfeature.DefaultFeatureGate.KnownFeatures(), ", "))

	// Work queues.
	fs.IntVar(&c.NumberOfConcurrentWorkers, "concurrent-workers", c.NumberOfConcurrentWorkers, "Workers per controller")
	fs.IntVar(&c.MaxConcurrentChallenges, "max-concurrent-challenges", c.MaxConcurrentChallenges, "Most ACME challenges processed at once")

	// Metrics, profiling, health.
	fs.StringVar(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "host:port of the metrics endpoint")
	fs.BoolVar(&c.EnablePprof, "enable-profiling", c.EnablePprof, "Serve the Go profiler")
	fs.StringVar(&c.PprofAddress, "profiler-address", c.PprofAddress, "host:port of the Go profiler (/debug/pprof); keep it private")
	addMetricsTLSFlags(fs, c)
	fs.StringVar(&c.HealthzListenAddress, "internal-healthz-listen-address", c.HealthzListenAddress, "host:port of the /livez endpoint the liveness probe calls")
	fs.DurationVar(&le.HealthzTimeout, "internal-healthz-leader-election-timeout", le.HealthzTimeout, "How long past the lease's expiry /livez still reports the leader election healthy")
	_ = fs.MarkHidden("internal-healthz-listen-address")
	_ = fs.MarkHidden("internal-healthz-leader-election-timeout")

	logf.AddFlags(&c.Logging, fs)
}

func addMetricsTLSFlags(fs *pflag.FlagSet, c *config.ControllerConfiguration) {
	t := &c.MetricsTLSConfig
	fs.StringVar(&t.Filesystem.CertFile, "metrics-tls-cert-file", t.Filesystem.CertFile, "TLS certificate file of the metrics endpoint")
	fs.StringVar(&t.Filesystem.KeyFile, "metrics-tls-private-key-file", t.Filesystem.KeyFile, "TLS private key file of the metrics endpoint")
	fs.DurationVar(&t.Dynamic.LeafDuration, "metrics-dynamic-serving-leaf-duration", t.Dynamic.LeafDuration, "Lifetime of the metrics serving certificates the dynamic CA signs")
	fs.StringVar(&t.Dynamic.SecretNamespace, "metrics-dynamic-serving-ca-secret-namespace", t.Dynamic.SecretNamespace, "Namespace of the Secret holding the metrics serving CA")
	fs.StringVar(&t.Dynamic.SecretName, "metrics-dynamic-serving-ca-secret-name", t.Dynamic.SecretName, "Name of the Secret holding the metrics serving CA")
	fs.StringSliceVar(&t.Dynamic.DNSNames, "metrics-dynamic-serving-dns-names", t.Dynamic.DNSNames, "DNS names of the metrics serving certificates")
	fs.StringSliceVar(&t.CipherSuites, "metrics-tls-cipher-suites", t.CipherSuites, "TLS cipher suites of the metrics endpoint (default: Go's): "+strings.Join(cliflag.TLSCipherPossibleValues(), ","))
	fs.StringVar(&t.MinTLSVersion, "metrics-tls-min-version", t.MinTLSVersion, "Lowest TLS version of the metrics endpoint (default: Go's): "+strings.Join(cliflag.TLSPossibleVersions(), ", "))
}
