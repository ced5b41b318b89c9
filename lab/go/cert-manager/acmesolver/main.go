// The cert-manager ACME HTTP-01 solver (quay.io/jetstack/cert-manager-acmesolver): the controller runs it in
// a pod per HTTP-01 challenge, with --listen-port, --domain, --token and --key; it answers the ACME server's
// request for /.well-known/acme-challenge/<token> on that domain with the key.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/component-base/logs"

	"github.com/cert-manager/cert-manager/internal/cmd/util"
	"github.com/cert-manager/cert-manager/pkg/issuer/acme/http/solver"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	ctx, exit := util.SetupExitHandler(context.Background(), util.GracefulShutdown)
	defer exit() // may call os.Exit: deferred first, so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "acmesolver")

	if err := run(ctx, os.Args[1:]); err != nil {
		logf.Log.Error(err, "cert-manager acmesolver failed")
		util.SetExitCode(err)
	}
}

func run(ctx context.Context, args []string) error {
	s := &solver.HTTP01Solver{}
	fs := pflag.NewFlagSet("acmesolver", pflag.ContinueOnError)
	fs.IntVar(&s.ListenPort, "listen-port", 8089, "Port to serve the challenge on")
	fs.StringVar(&s.Domain, "domain", "", "Domain name being validated")
	fs.StringVar(&s.Token, "token", "", "Challenge token expected in the request path")
	fs.StringVar(&s.Key, "key", "", "Key authorization to answer with")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "cert-manager ACME HTTP-01 solver: serves one challenge's key.\n\nUsage: acmesolver [flags]\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	// Logging keeps its defaults: upstream's solver takes no logging flags either.
	if err := logf.ValidateAndApply(logs.NewOptions()); err != nil {
		return err
	}
	log := logf.FromContext(ctx)

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(stop); err != nil { //nolint:contextcheck // ctx has ended already
			log.Error(err, "shutting the solver's server down")
		}
	}()
	if err := s.Listen(log); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	return nil
}
