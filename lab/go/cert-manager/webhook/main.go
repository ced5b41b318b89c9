// The cert-manager webhook (quay.io/jetstack/cert-manager-webhook): validates and mutates cert-manager
// resources for the API server, over TLS from a CA it keeps in a Secret (--dynamic-serving-*), with /healthz
// and /livez on the healthz port for the probes.
package main

import (
	"context"
	"os"

	"k8s.io/apimachinery/pkg/util/validation/field"
	logsapi "k8s.io/component-base/logs/api/v1"

	config "github.com/cert-manager/cert-manager/internal/apis/config/webhook"
	"github.com/cert-manager/cert-manager/internal/apis/config/webhook/validation"
	"github.com/cert-manager/cert-manager/internal/cmd/util"
	cmwebhook "github.com/cert-manager/cert-manager/internal/webhook"
	"github.com/cert-manager/cert-manager/kmetal-binaries/cmdsupport"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util/configfile"
	webhookconfigfile "github.com/cert-manager/cert-manager/pkg/webhook/configfile"
	"github.com/cert-manager/cert-manager/pkg/webhook/options"
)

// The webhook's flags and defaults are public in the root module (pkg/webhook/options); the server is
// internal/webhook's, which wires the admission plugins, the conversion and the certificate source.
var component = cmdsupport.Component[config.WebhookConfiguration]{
	Name:        "webhook",
	Description: "cert-manager webhook: validation and defaulting of cert-manager resources for the API server.",
	Defaults:    options.NewWebhookConfiguration,
	AddFlags:    options.AddConfigFlags,
	File: func() (configfile.ConfigFile, func() *config.WebhookConfiguration) {
		f := webhookconfigfile.New()
		return f, func() *config.WebhookConfiguration { return f.Config }
	},
	Features: func(c *config.WebhookConfiguration) map[string]bool { return c.FeatureGates },
	Validate: func(c *config.WebhookConfiguration) field.ErrorList {
		return validation.ValidateWebhookConfiguration(c, nil)
	},
	Logging: func(c *config.WebhookConfiguration) *logsapi.LoggingConfiguration { return &c.Logging },
}

func main() {
	ctx, exit := util.SetupExitHandler(context.Background(), util.GracefulShutdown)
	defer exit() // may call os.Exit: deferred first, so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "webhook")

	cfg, err := cmdsupport.Load(component, os.Args[1:])
	if err == nil {
		log := logf.FromContext(ctx)
		cmdsupport.LogVersion(log, "webhook")
		srv, serr := cmwebhook.NewCertManagerWebhookServer(log, *cfg)
		if err = serr; err == nil {
			err = srv.Run(ctx)
		}
	}
	if err != nil {
		logf.Log.Error(err, "cert-manager webhook failed")
		util.SetExitCode(err)
	}
}
