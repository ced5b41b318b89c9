// cert-manager's startupapicheck (quay.io/jetstack/cert-manager-startupapicheck): the chart's post-install
// Job runs `check api --wait=1m -v`, which dry-run creates CertificateRequests until the API server accepts a
// valid one through the webhook and the webhook refuses an invalid one, i.e. the CRDs and the webhook work.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/logs"

	// Every client-go credential plugin, as kubectl-style commands carry them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/cert-manager/cert-manager/internal/cmd/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util/cmapichecker"
)

func main() {
	ctx, exit := util.SetupExitHandler(context.Background(), util.AlwaysErrCode)
	defer exit() // may call os.Exit: deferred first, so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "startupapicheck")

	if err := command().ExecuteContext(ctx); err != nil {
		logf.Log.Error(err, "cert-manager startupapicheck failed")
		util.SetExitCode(err)
	}
}

func command() *cobra.Command {
	logOptions := logs.NewOptions()
	root := &cobra.Command{
		Use:               "startupapicheck",
		Short:             "Check that cert-manager has started",
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return logf.ValidateAndApply(logOptions) },
	}
	var logFlags pflag.FlagSet
	logf.AddFlagsNonDeprecated(logOptions, &logFlags)
	logFlags.VisitAll(func(f *pflag.Flag) {
		if f.Name == "v" {
			f.NoOptDefVal = "2" // a bare -v, as the chart passes it, means verbosity 2
		}
		root.PersistentFlags().AddFlag(f)
	})

	check := &cobra.Command{Use: "check", Short: "Check cert-manager's components"}
	root.AddCommand(check)

	var waitFor, interval time.Duration
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	overrides := &clientcmd.ConfigOverrides{}
	api := &cobra.Command{
		Use:   "api",
		Short: "Check that the cert-manager API is ready",
		Long: "Dry-run creates a cert-manager v1 CertificateRequest, which shows that the CRDs are installed and\n" +
			"that the API server reaches the webhook. With --wait, retries until it works or the time is up.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kube := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
			restConfig, err := kube.ClientConfig()
			if err != nil {
				return err
			}
			namespace, _, err := kube.Namespace()
			if err != nil {
				return err
			}
			checker, err := cmapichecker.New(restConfig, namespace)
			if err != nil {
				return err
			}
			return checkAPI(cmd.Context(), cmd, checker, waitFor, interval)
		},
	}
	api.Flags().DurationVar(&waitFor, "wait", 0, "Keep checking for this long until the API is ready (0: check once)")
	api.Flags().DurationVar(&interval, "interval", 5*time.Second, "Time between checks while waiting")
	api.Flags().StringVar(&rules.ExplicitPath, "kubeconfig", "", "Path to a kubeconfig (default: KUBECONFIG, ~/.kube/config or in-cluster)")
	clientcmd.BindOverrideFlags(overrides, api.Flags(), clientcmd.RecommendedConfigOverrideFlags(""))
	check.AddCommand(api)
	return root
}

func checkAPI(ctx context.Context, cmd *cobra.Command, checker cmapichecker.Interface, waitFor, interval time.Duration) error {
	log := logf.FromContext(ctx, "checkAPI")
	deadline := time.Now().Add(waitFor)
	var last error
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		err := checker.Check(ctx)
		if err == nil {
			return true, nil
		}
		last = err
		if simple := cmapichecker.TranslateToSimpleError(err); simple != nil {
			log.V(2).Info("not ready", "err", simple, "underlyingError", err)
			last = simple
		} else {
			log.V(2).Info("not ready", "err", err)
		}
		if time.Now().After(deadline) {
			return false, context.DeadlineExceeded
		}
		return false, nil
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && waitFor > 0 {
			log.V(2).Info("timed out", "after", waitFor)
			util.SetExitCode(err) // 124, as a timeout
		}
		if last == nil {
			return err
		}
		return last
	}
	fmt.Fprintln(cmd.OutOrStdout(), "The cert-manager API is ready")
	return nil
}
