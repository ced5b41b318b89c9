package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	cliflag "k8s.io/component-base/cli/flag"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	config "github.com/cert-manager/cert-manager/internal/apis/config/cainjector"
	"github.com/cert-manager/cert-manager/internal/kube"
	"github.com/cert-manager/cert-manager/kmetal-binaries/cmdsupport"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	servertls "github.com/cert-manager/cert-manager/pkg/server/tls"
	"github.com/cert-manager/cert-manager/pkg/util"
	"github.com/cert-manager/cert-manager/pkg/util/profiling"
)

// leaseName is the Lease the chart's cainjector leaderelection Role allows.
const leaseName = "cert-manager-cainjector-leader-election"

func run(ctx context.Context, cfg *config.CAInjectorConfiguration) error {
	log := logf.FromContext(ctx)
	cmdsupport.LogVersion(log, "cainjector")
	ctrl.SetLogger(log)

	restConfig, err := clientConfig(cfg.KubeConfig)
	if err != nil {
		return fmt.Errorf("API server client configuration: %w", err)
	}
	restConfig = util.RestConfigWithUserAgent(restConfig, "cainjector")

	source := cmdsupport.CertificateSource(cfg.MetricsTLSConfig, restConfig, "cert-manager-cainjector")
	metrics, err := metricsOptions(cfg, source)
	if err != nil {
		return err
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{kscheme.AddToScheme, cmscheme.AddToScheme, apiext.AddToScheme, apireg.AddToScheme} {
		utilruntime.Must(add(scheme))
	}
	var namespaces map[string]cache.Config
	if cfg.Namespace != "" {
		namespaces = map[string]cache.Config{cfg.Namespace: {}}
	}
	le := cfg.LeaderElectionConfig
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme,
		Cache:  cache.Options{ReaderFailOnMissingInformer: true, DefaultNamespaces: namespaces},
		// Secrets are read from the API server when needed rather than cached: a cluster may hold many large
		// ones (Helm releases, service account tokens) that the injector has no use for.
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		LeaderElection:                le.Enabled,
		LeaderElectionNamespace:       le.Namespace,
		LeaderElectionID:              leaseName,
		LeaderElectionResourceLock:    resourcelock.LeasesResourceLock,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &le.LeaseDuration,
		RenewDeadline:                 &le.RenewDeadline,
		RetryPeriod:                   &le.RetryPeriod,
		Metrics:                       metrics,
	})
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}
	if source != nil {
		if err := mgr.Add(source); err != nil {
			return err
		}
	}
	if cfg.EnablePprof {
		if err := addProfiler(ctx, mgr, cfg.PprofAddress); err != nil {
			return err
		}
	}

	if cfg.EnableDataSourceConfig.Certificates {
		if err := waitForCertificateCRD(ctx, mgr); err != nil {
			return err
		}
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    cfg.Namespace,
		EnableCertificatesDataSource: cfg.EnableDataSourceConfig.Certificates,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   cfg.EnableInjectableConfig.MutatingWebhookConfigurations,
			cainjector.ValidatingWebhookConfigurationName: cfg.EnableInjectableConfig.ValidatingWebhookConfigurations,
			cainjector.APIServiceName:                     cfg.EnableInjectableConfig.APIServices,
			cainjector.CustomResourceDefinitionName:       cfg.EnableInjectableConfig.CustomResourceDefinitions,
		},
	})
	if err != nil {
		return fmt.Errorf("registering the injectors: %w", err)
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the controller manager: %w", err)
	}
	return nil
}

// clientConfig: the --kubeconfig file when given, otherwise controller-runtime's search (KUBECONFIG, in-cluster,
// ~/.kube/config).
func clientConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return kube.BuildClientConfig("", kubeconfig)
	}
	return ctrl.GetConfig()
}

// waitForCertificateCRD waits up to five minutes for the Certificate CRD: the injectors watch Certificates.
func waitForCertificateCRD(ctx context.Context, mgr manager.Manager) error {
	log := logf.FromContext(ctx)
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("creating a client: %w", err)
	}
	name := types.NamespacedName{Name: "certificates.cert-manager.io"}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		err := direct.Get(ctx, name, &apiext.CustomResourceDefinition{})
		if apierrors.IsNotFound(err) {
			log.Info("waiting for the certificates.cert-manager.io CRD (--enable-certificates-data-source is on)")
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("waiting for the certificates.cert-manager.io CRD: %w", err)
	}
	return nil
}

func metricsOptions(cfg *config.CAInjectorConfiguration, source servertls.CertificateSource) (metricsserver.Options, error) {
	opts := metricsserver.Options{BindAddress: cfg.MetricsListenAddress}
	if source == nil {
		return opts, nil
	}
	suites, err := cliflag.TLSCipherSuites(cfg.MetricsTLSConfig.CipherSuites)
	if err != nil {
		return opts, fmt.Errorf("--metrics-tls-cipher-suites: %w", err)
	}
	minVersion, err := cliflag.TLSVersion(cfg.MetricsTLSConfig.MinTLSVersion)
	if err != nil {
		return opts, fmt.Errorf("--metrics-tls-min-version: %w", err)
	}
	opts.SecureServing = true
	opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) {
		c.CipherSuites, c.MinVersion, c.GetCertificate = suites, minVersion, source.GetCertificate
	}}
	return opts, nil
}

// everyReplica is a manager.Runnable that runs on every replica, leader or not.
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }

func addProfiler(ctx context.Context, mgr manager.Manager, address string) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", address)
	if err != nil {
		return fmt.Errorf("listening on the profiler address %s: %w", address, err)
	}
	mux := http.NewServeMux()
	profiling.Install(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: cmdsupport.ReadHeaderTimeout}
	return mgr.Add(everyReplica(func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(stop) //nolint:contextcheck // ctx has ended already
		}()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}))
}
