package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	defaults "github.com/cert-manager/cert-manager/internal/apis/config/controller/v1alpha1"
	"github.com/cert-manager/cert-manager/internal/controller/feature"
	"github.com/cert-manager/cert-manager/kmetal-binaries/cmdsupport"
	"github.com/cert-manager/cert-manager/pkg/controller"
	shimgateways "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/gateways"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/server"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/cert-manager/cert-manager/pkg/util/profiling"

	// The control loops register themselves with pkg/controller (controller.Known) when imported, the issuer
	// backends with pkg/issuer. Importing the defaults package above brings in every controller it names;
	// these are the ones it does not name, and the backends.
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/vault"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/venafi"
)

// leaseName is the Lease the chart's leaderelection Role lets the controller use.
const leaseName = "cert-manager-controller"

func run(parent context.Context, cfg *config.ControllerConfiguration) error {
	log := logf.FromContext(parent)
	cmdsupport.LogVersion(log, "controller")

	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	// stop ends everything started so far and reports err with whatever else failed meanwhile.
	stop := func(err error) error {
		cancel()
		return errors.Join(err, g.Wait())
	}

	factory, err := contextFactory(ctx, cfg)
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	enabled, err := enabledControllers(cfg)
	if err != nil {
		return err
	}
	log.Info("enabled controllers: " + strings.Join(enabled, ", "))

	// Metrics: Prometheus on --metrics-listen-address, over TLS when a certificate source is configured.
	source := cmdsupport.CertificateSource(cfg.MetricsTLSConfig, base.RESTConfig, "cert-manager")
	if source != nil {
		g.Go(func() error {
			if err := source.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("metrics certificate source: %w", err)
			}
			return nil
		})
	}
	metricsLn, err := server.Listen(ctx, "tcp", cfg.MetricsListenAddress, server.WithCertificateSource(source),
		server.WithTLSCipherSuites(cfg.MetricsTLSConfig.CipherSuites), server.WithTLSMinVersion(cfg.MetricsTLSConfig.MinTLSVersion))
	if err != nil {
		return stop(fmt.Errorf("listening on the metrics address %s: %w", cfg.MetricsListenAddress, err))
	}
	base.Metrics.SetupACMECollector(base.SharedInformerFactory.Acme().V1().Challenges().Lister())
	base.Metrics.SetupCertificateCollector(base.SharedInformerFactory.Certmanager().V1().Certificates().Lister())
	cmdsupport.Serve(ctx, g, log, "metrics", base.Metrics.NewServer(metricsLn), metricsLn)

	if cfg.EnablePprof {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.PprofAddress)
		if err != nil {
			return stop(fmt.Errorf("listening on the profiler address %s: %w", cfg.PprofAddress, err))
		}
		mux := http.NewServeMux()
		profiling.Install(mux)
		cmdsupport.Serve(ctx, g, log, "profiler", &http.Server{Handler: mux, ReadHeaderTimeout: cmdsupport.ReadHeaderTimeout}, ln)
	}

	// /livez for the liveness probe: fails when leader election has stalled or the clock jumped.
	healthzLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.HealthzListenAddress)
	if err != nil {
		return stop(fmt.Errorf("listening on the healthz address %s: %w", cfg.HealthzListenAddress, err))
	}
	health := healthz.NewServer(cfg.LeaderElectionConfig.HealthzTimeout)
	g.Go(func() error {
		log.V(logf.InfoLevel).Info("serving /livez", "address", healthzLn.Addr().String())
		return health.Start(ctx, healthzLn)
	})

	leading := make(chan struct{})
	if cfg.LeaderElectionConfig.Enabled {
		elector, err := newElector(ctx, cfg, factory, health, leading)
		if err != nil {
			return stop(err)
		}
		g.Go(func() error {
			log.V(logf.InfoLevel).Info("waiting to lead", "namespace", cfg.LeaderElectionConfig.Namespace, "lease", leaseName)
			elector.Run(ctx)
			if ctx.Err() == nil {
				return errors.New("lost the leader election")
			}
			return nil
		})
	} else {
		close(leading)
	}
	select {
	case <-ctx.Done():
		return stop(nil)
	case <-leading:
	}

	known := controller.Known()
	for _, name := range enabled {
		loop, err := known[name](factory)
		if err != nil {
			return stop(fmt.Errorf("setting up controller %s: %w", name, err))
		}
		g.Go(func() error {
			log.V(logf.InfoLevel).Info("starting controller", "controller", name)
			return loop.Run(cfg.NumberOfConcurrentWorkers, ctx)
		})
	}

	gateway := utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalGatewayAPISupport) && cfg.EnableGatewayAPI
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	if gateway {
		base.GWShared.Start(ctx.Done())
	}

	err = g.Wait()
	if gateway {
		base.GWShared.Shutdown()
	}
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	if err != nil {
		return err
	}
	log.V(logf.InfoLevel).Info("control loops stopped")
	return nil
}

// newElector competes for the Lease; it closes leading once this instance holds it.
func newElector(ctx context.Context, cfg *config.ControllerConfiguration, factory *controller.ContextFactory, health *healthz.Server, leading chan struct{}) (*leaderelection.LeaderElector, error) {
	le := cfg.LeaderElectionConfig
	cctx, err := factory.Build("leader-election")
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("leader election identity: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, le.Namespace, leaseName, cctx.Client.CoreV1(), cctx.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: host + "-external-cert-manager-controller", EventRecorder: cctx.Recorder})
	if err != nil {
		return nil, fmt.Errorf("leader election lock: %w", err)
	}
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        health.LeaderHealthzAdaptor,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(leading) },
			OnStoppedLeading: func() {}, // Run returns; the caller tells a lost lease from a shutdown
		},
	})
}

// enabledControllers resolves --controllers ('*', 'name', '-name') and the feature gates into the sorted list of
// controllers to run; it fails on a name no imported package registered.
func enabledControllers(cfg *config.ControllerConfiguration) ([]string, error) {
	on, off := sets.New[string](), sets.New[string]()
	for _, c := range cfg.Controllers {
		switch {
		case c == "*":
			on.Insert(defaults.DefaultEnabledControllers...)
		case strings.HasPrefix(c, "-"):
			off.Insert(strings.TrimPrefix(c, "-"))
		default:
			on.Insert(c)
		}
	}
	if on.Len() == 0 && off.Len() > 0 { // only removals: from the default set
		on.Insert(defaults.DefaultEnabledControllers...)
	}
	if utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalCertificateSigningRequestControllers) {
		on.Insert(defaults.ExperimentalCertificateSigningRequestControllers...)
	}
	if utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalGatewayAPISupport) && cfg.EnableGatewayAPI {
		on.Insert(shimgateways.ControllerName)
	}
	if cfg.Namespace != "" { // one namespace: nothing cluster-scoped
		on.Delete(defaults.ClusterScopedControllers...)
	}
	on = on.Difference(off)
	known := controller.Known()
	for name := range on {
		if _, ok := known[name]; !ok {
			return nil, fmt.Errorf("controller %q is not built into this binary (known: %s)", name, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
	return sets.List(on), nil
}

// contextFactory turns the configuration into the options the controllers' shared context is built from.
func contextFactory(ctx context.Context, cfg *config.ControllerConfiguration) (*controller.ContextFactory, error) {
	h := cfg.ACMEHTTP01Config
	quantities := map[string]*resource.Quantity{}
	for flag, value := range map[string]string{
		"acme-http01-solver-resource-request-cpu": h.SolverResourceRequestCPU, "acme-http01-solver-resource-request-memory": h.SolverResourceRequestMemory,
		"acme-http01-solver-resource-limits-cpu": h.SolverResourceLimitsCPU, "acme-http01-solver-resource-limits-memory": h.SolverResourceLimitsMemory,
	} {
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return nil, fmt.Errorf("--%s=%q: %w", flag, value, err)
		}
		quantities[flag] = &q
	}
	nameservers := cfg.ACMEDNS01Config.RecursiveNameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers
	}
	logf.FromContext(ctx).V(logf.InfoLevel).Info("ACME DNS-01 self checks ask", "nameservers", nameservers)
	return controller.NewContextFactory(ctx, controller.ContextOptions{
		APIServerHost:      cfg.APIServerHost,
		Kubeconfig:         cfg.KubeConfig,
		KubernetesAPIQPS:   cfg.KubernetesAPIQPS,
		KubernetesAPIBurst: cfg.KubernetesAPIBurst,
		Namespace:          cfg.Namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        cfg.ClusterResourceNamespace,
			ClusterIssuerAmbientCredentials: cfg.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        cfg.IssuerAmbientCredentials,
		},
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverImage:                 h.SolverImage,
			HTTP01SolverResourceRequestCPU:    *quantities["acme-http01-solver-resource-request-cpu"],
			HTTP01SolverResourceRequestMemory: *quantities["acme-http01-solver-resource-request-memory"],
			HTTP01SolverResourceLimitsCPU:     *quantities["acme-http01-solver-resource-limits-cpu"],
			HTTP01SolverResourceLimitsMemory:  *quantities["acme-http01-solver-resource-limits-memory"],
			ACMEHTTP01SolverRunAsNonRoot:      h.SolverRunAsNonRoot,
			HTTP01SolverNameservers:           h.SolverNameservers,
			DNS01CheckAuthoritative:           !cfg.ACMEDNS01Config.RecursiveNameserversOnly,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             cfg.ACMEDNS01Config.CheckRetryPeriod,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 cfg.IngressShimConfig.DefaultIssuerName,
			DefaultIssuerKind:                 cfg.IngressShimConfig.DefaultIssuerKind,
			DefaultIssuerGroup:                cfg.IngressShimConfig.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: cfg.IngressShimConfig.DefaultAutoCertificateAnnotations,
			ExtraCertificateAnnotations:       cfg.IngressShimConfig.ExtraCertificateAnnotations,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:           cfg.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes: cfg.CopiedAnnotationPrefixes,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: cfg.MaxConcurrentChallenges},
		ConfigOptions:    controller.ConfigOptions{EnableGatewayAPI: cfg.EnableGatewayAPI},
	})
}
