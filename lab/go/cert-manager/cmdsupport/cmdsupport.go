// Package cmdsupport is what the lab's cert-manager commands share: reading a component's configuration
// (defaults, then an optional --config file, then the command line over both), checking it with the root
// module's validation, serving HTTP endpoints until the context ends, and the metrics certificate source.
package cmdsupport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/rest"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/cert-manager/cert-manager/internal/apis/config/shared"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	servertls "github.com/cert-manager/cert-manager/pkg/server/tls"
	"github.com/cert-manager/cert-manager/pkg/server/tls/authority"
	"github.com/cert-manager/cert-manager/pkg/util"
	"github.com/cert-manager/cert-manager/pkg/util/configfile"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

// ReadHeaderTimeout bounds how long a client may take to send its request headers (slowloris).
const ReadHeaderTimeout = 32 * time.Second

// Component describes how one command builds, reads and checks its configuration type T.
type Component[T any] struct {
	Name        string                                     // the command's name, as in its usage line
	Defaults    func() (*T, error)                         // the versioned type's defaults converted to T
	AddFlags    func(fs *pflag.FlagSet, cfg *T)            // every flag, bound to cfg's fields
	File        func() (configfile.ConfigFile, func() *T)  // a decoder for --config, and what it decoded
	Features    func(cfg *T) map[string]bool               // the feature gates cfg asks for
	Validate    func(cfg *T) field.ErrorList               // the root module's validation
	Logging     func(cfg *T) *logsapi.LoggingConfiguration // the logging options in cfg
	Description string
}

// Load returns the configuration args ask for: the defaults, overlaid by the --config file if one is named,
// overlaid by the flags given. It exits 0 after printing the usage on -h/--help.
func Load[T any](c Component[T], args []string) (*T, error) {
	cfg, err := c.Defaults()
	if err != nil {
		return nil, fmt.Errorf("building the default configuration: %w", err)
	}
	configPath := ""
	parse := func() error {
		fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
		fs.StringVar(&configPath, "config", configPath, fmt.Sprintf("Path to a file holding the %s configuration object (flags given override it)", c.Name))
		c.AddFlags(fs, cfg)
		fs.Usage = func() {
			fmt.Fprintf(os.Stderr, "%s\n\nUsage: %s [flags]\n\n%s", c.Description, c.Name, fs.FlagUsages())
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, pflag.ErrHelp) {
				os.Exit(0)
			}
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments: %v", fs.Args())
		}
		if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(c.Features(cfg)); err != nil {
			return fmt.Errorf("setting the feature gates: %w", err)
		}
		return nil
	}
	if err := parse(); err != nil {
		return nil, err
	}
	if configPath != "" {
		abs, err := filepath.Abs(configPath)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", configPath, err)
		}
		loader, err := configfile.NewConfigurationFSLoader(nil, abs)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", configPath, err)
		}
		file, decoded := c.File()
		if err := loader.Load(file); err != nil {
			return nil, fmt.Errorf("config file %s: %w", configPath, err)
		}
		// The file replaces the defaults; the flags given are applied again on top of it, with a fresh flag
		// set so that list flags are not appended twice.
		cfg = decoded()
		if err := parse(); err != nil {
			return nil, err
		}
	}
	if errs := c.Validate(cfg); len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errs.ToAggregate())
	}
	if err := logf.ValidateAndApply(c.Logging(cfg)); err != nil {
		return nil, fmt.Errorf("logging options: %w", err)
	}
	return cfg, nil
}

// LogVersion logs what is starting, with the version stamped into pkg/util at build time.
func LogVersion(log logr.Logger, what string) {
	v := util.VersionInfo()
	log.Info("starting cert-manager "+what, "version", v.GitVersion, "git_commit", v.GitCommit, "go_version", v.GoVersion, "platform", v.Platform)
}

// Serve runs srv on ln in g until ctx ends, then gives it five seconds to finish its requests.
func Serve(ctx context.Context, g *errgroup.Group, log logr.Logger, what string, srv *http.Server, ln net.Listener) {
	g.Go(func() error {
		log.V(logf.InfoLevel).Info("serving "+what, "address", ln.Addr().String())
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s server: %w", what, err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(stop) //nolint:contextcheck // ctx has ended already
	})
}

// CertificateSource is where a metrics server takes its TLS certificate from: files, a CA kept in a Secret
// (dynamic), or nowhere (plain HTTP) when the configuration names neither.
func CertificateSource(cfg shared.TLSConfig, restConfig *rest.Config, managedBy string) servertls.CertificateSource {
	switch {
	case cfg.FilesystemConfigProvided():
		return &servertls.FileCertificateSource{CertPath: cfg.Filesystem.CertFile, KeyPath: cfg.Filesystem.KeyFile}
	case cfg.DynamicConfigProvided():
		return &servertls.DynamicSource{
			DNSNames: cfg.Dynamic.DNSNames,
			Authority: &authority.DynamicAuthority{
				SecretNamespace: cfg.Dynamic.SecretNamespace,
				SecretName:      cfg.Dynamic.SecretName,
				SecretLabels:    map[string]string{"app.kubernetes.io/managed-by": managedBy},
				LeafDuration:    cfg.Dynamic.LeafDuration,
				RESTConfig:      restConfig,
			},
		}
	}
	return nil
}
