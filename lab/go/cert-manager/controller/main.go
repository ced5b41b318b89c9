// The cert-manager controller (quay.io/jetstack/cert-manager-controller): the control loops of Certificates,
// CertificateRequests, Issuers, ClusterIssuers, ACME Orders and Challenges and ingress-shim, with a metrics
// endpoint, a /livez endpoint for the liveness probe, and leader election.
package main

import (
	"context"
	"os"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	configscheme "github.com/cert-manager/cert-manager/internal/apis/config/controller/scheme"
	"github.com/cert-manager/cert-manager/internal/apis/config/controller/validation"
	"github.com/cert-manager/cert-manager/internal/cmd/util"
	"github.com/cert-manager/cert-manager/kmetal-binaries/cmdsupport"
	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/controller/v1alpha1"
	controllerconfigfile "github.com/cert-manager/cert-manager/pkg/controller/configfile"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util/configfile"
	"k8s.io/apimachinery/pkg/util/validation/field"
	logsapi "k8s.io/component-base/logs/api/v1"
)

var component = cmdsupport.Component[config.ControllerConfiguration]{
	Name: "controller",
	Description: "cert-manager controller: issues and renews the TLS certificates that Certificate resources ask for,\n" +
		"from the issuers Issuer and ClusterIssuer resources describe.",
	Defaults: func() (*config.ControllerConfiguration, error) {
		scheme, _, err := configscheme.NewSchemeAndCodecs()
		if err != nil {
			return nil, err
		}
		versioned := &configv1alpha1.ControllerConfiguration{}
		scheme.Default(versioned)
		cfg := &config.ControllerConfiguration{}
		return cfg, scheme.Convert(versioned, cfg, nil)
	},
	AddFlags: addFlags,
	File: func() (configfile.ConfigFile, func() *config.ControllerConfiguration) {
		f := controllerconfigfile.New()
		return f, func() *config.ControllerConfiguration { return f.Config }
	},
	Features: func(c *config.ControllerConfiguration) map[string]bool { return c.FeatureGates },
	Validate: func(c *config.ControllerConfiguration) field.ErrorList {
		return validation.ValidateControllerConfiguration(c, nil)
	},
	Logging: func(c *config.ControllerConfiguration) *logsapi.LoggingConfiguration { return &c.Logging },
}

func main() {
	ctx, exit := util.SetupExitHandler(context.Background(), util.GracefulShutdown)
	defer exit() // may call os.Exit: deferred first, so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "controller")

	cfg, err := cmdsupport.Load(component, os.Args[1:])
	if err == nil {
		err = run(ctx, cfg)
	}
	if err != nil {
		logf.Log.Error(err, "cert-manager controller failed")
		util.SetExitCode(err)
	}
}
