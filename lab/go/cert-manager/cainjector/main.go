// The cert-manager CA injector (quay.io/jetstack/cert-manager-cainjector): copies CA certificates into the
// webhook configurations, APIServices and CRDs annotated cert-manager.io/inject-ca-from (a Certificate),
// cert-manager.io/inject-ca-from-secret (a Secret) or cert-manager.io/inject-apiserver-ca.
package main

import (
	"context"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation/field"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"

	config "github.com/cert-manager/cert-manager/internal/apis/config/cainjector"
	configscheme "github.com/cert-manager/cert-manager/internal/apis/config/cainjector/scheme"
	"github.com/cert-manager/cert-manager/internal/apis/config/cainjector/validation"
	"github.com/cert-manager/cert-manager/internal/cmd/util"
	"github.com/cert-manager/cert-manager/kmetal-binaries/cmdsupport"
	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/cainjector/v1alpha1"
	cainjectorconfigfile "github.com/cert-manager/cert-manager/pkg/cainjector/configfile"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util/configfile"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

var component = cmdsupport.Component[config.CAInjectorConfiguration]{
	Name:        "cainjector",
	Description: "cert-manager CA injector: keeps the CA data of annotated webhooks, APIServices and CRDs up to date.",
	Defaults: func() (*config.CAInjectorConfiguration, error) {
		scheme, _, err := configscheme.NewSchemeAndCodecs()
		if err != nil {
			return nil, err
		}
		versioned := &configv1alpha1.CAInjectorConfiguration{}
		scheme.Default(versioned)
		cfg := &config.CAInjectorConfiguration{}
		return cfg, scheme.Convert(versioned, cfg, nil)
	},
	AddFlags: addFlags,
	File: func() (configfile.ConfigFile, func() *config.CAInjectorConfiguration) {
		f := cainjectorconfigfile.New()
		return f, func() *config.CAInjectorConfiguration { return f.Config }
	},
	Features: func(c *config.CAInjectorConfiguration) map[string]bool { return c.FeatureGates },
	Validate: func(c *config.CAInjectorConfiguration) field.ErrorList {
		return validation.ValidateCAInjectorConfiguration(c, nil)
	},
	Logging: func(c *config.CAInjectorConfiguration) *logsapi.LoggingConfiguration { return &c.Logging },
}

// addFlags binds the flags cert-manager v1.19's cainjector takes to c's fields, defaulting to c's values.
func addFlags(fs *pflag.FlagSet, c *config.CAInjectorConfiguration) {
	fs.StringVar(&c.KubeConfig, "kubeconfig", c.KubeConfig, "Path to a kubeconfig; only needed out of cluster")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "Inject only into resources of this namespace; empty: all")

	le := &c.LeaderElectionConfig
	fs.BoolVar(&le.Enabled, "leader-elect", le.Enabled, "Elect a leader among the running instances; only the leader injects")
	fs.StringVar(&le.Namespace, "leader-election-namespace", le.Namespace, "Namespace of the leader election Lease")
	fs.DurationVar(&le.LeaseDuration, "leader-election-lease-duration", le.LeaseDuration, "How long a candidate waits after the last renewal before taking over the lease")
	fs.DurationVar(&le.RenewDeadline, "leader-election-renew-deadline", le.RenewDeadline, "How long the leader keeps trying to renew before it gives up leading (at most the lease duration)")
	fs.DurationVar(&le.RetryPeriod, "leader-election-retry-period", le.RetryPeriod, "Time between attempts to acquire or renew the lease")

	fs.BoolVar(&c.EnableDataSourceConfig.Certificates, "enable-certificates-data-source", c.EnableDataSourceConfig.Certificates, "Take CA data from Certificates (needs the Certificate CRD)")
	in := &c.EnableInjectableConfig
	fs.BoolVar(&in.ValidatingWebhookConfigurations, "enable-validatingwebhookconfigurations-injectable", in.ValidatingWebhookConfigurations, "Inject into annotated ValidatingWebhookConfigurations")
	fs.BoolVar(&in.MutatingWebhookConfigurations, "enable-mutatingwebhookconfigurations-injectable", in.MutatingWebhookConfigurations, "Inject into annotated MutatingWebhookConfigurations")
	fs.BoolVar(&in.CustomResourceDefinitions, "enable-customresourcedefinitions-injectable", in.CustomResourceDefinitions, "Inject into the conversion webhooks of annotated CustomResourceDefinitions")
	fs.BoolVar(&in.APIServices, "enable-apiservices-injectable", in.APIServices, "Inject into annotated APIServices")

	fs.BoolVar(&c.EnablePprof, "enable-profiling", c.EnablePprof, "Serve the Go profiler")
	fs.StringVar(&c.PprofAddress, "profiler-address", c.PprofAddress, "host:port of the Go profiler (/debug/pprof); keep it private")
	fs.Var(cliflag.NewMapStringBool(&c.FeatureGates), "feature-gates", "key=value pairs switching features: "+strings.Join(utilfeature.DefaultFeatureGate.KnownFeatures(), ", "))
	logf.AddFlags(&c.Logging, fs)

	fs.StringVar(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "host:port of the metrics endpoint; '0' turns it off")
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

func main() {
	ctx, exit := util.SetupExitHandler(context.Background(), util.GracefulShutdown)
	defer exit() // may call os.Exit: deferred first, so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "cainjector")

	cfg, err := cmdsupport.Load(component, os.Args[1:])
	if err == nil {
		err = run(ctx, cfg)
	}
	if err != nil {
		logf.Log.Error(err, "cert-manager cainjector failed")
		util.SetExitCode(err)
	}
}
