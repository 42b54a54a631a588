package main

import (
	"fmt"
	"strings"

	"github.com/nhs-steward/steward/installer/service"
	"github.com/nhs-steward/steward/internal/cli"
)

// installStep is one step of installing the agent's service. A required
// step is one without which the agent must not run: registering the
// service, and closing the config and the practice key to everyone but
// administrators, SYSTEM and the service. A best-effort step only adds
// comfort (the recovery policy, the Event Log source): the service runs
// without it, so its failure is a warning and the install completes.
// docs/install-practice.md lists each step and why it is one or the other.
type installStep struct {
	what     string
	required bool
	do       func() error
	// undo reverses a required step that succeeded when a later required
	// step fails, so a failed install leaves nothing behind; nil when
	// there is nothing to reverse.
	undo func() error
	// hint says what an administrator can do when a best-effort step
	// fails.
	hint string
}

// runInstallSteps runs steps in order. A best-effort step that fails is
// reported on stdio.Err as a warning; a required step that fails undoes
// the required steps done so far, newest first, and fails the install.
func runInstallSteps(steps []installStep, stdio cli.IO) error {
	var done []installStep
	for _, st := range steps {
		err := st.do()
		switch {
		case err == nil:
			fmt.Fprintf(stdio.Out, "ok       %s\n", st.what)
			done = append(done, st)
		case !st.required:
			msg := fmt.Sprintf("warning  %s: %s (best effort: the service runs without it)", st.what, oneLine(err))
			if st.hint != "" {
				msg += "; " + st.hint
			}
			fmt.Fprintln(stdio.Err, msg)
		default:
			for i := len(done) - 1; i >= 0; i-- {
				if done[i].undo == nil {
					continue
				}
				if uerr := done[i].undo(); uerr != nil {
					fmt.Fprintf(stdio.Err, "warning  could not undo %q: %s\n", done[i].what, oneLine(uerr))
				}
			}
			return fmt.Errorf("%s: %w (the install was undone: fix this, then run 'steward-agent install' again)", st.what, err)
		}
	}
	return nil
}

// recoveryHint is how an administrator sets installer/service's recovery
// policy by hand when the service manager refused part of it.
func recoveryHint(name string) string {
	return fmt.Sprintf("set it on Windows with: sc failure %s reset= %d actions= restart/%d, sc failureflag %s 1, sc config %s start= delayed-auto",
		name, int(service.ResetPeriod.Seconds()), service.RestartDelay.Milliseconds(), name, name)
}

// recoveryWarning is what `service-recovery` (the MSI's custom action)
// prints when the recovery policy could not be fully set.
func recoveryWarning(name string, err error) string {
	return fmt.Sprintf("service %s: recovery policy not fully set: %s (best effort: the service is installed and runs, but may not restart after a failure); %s",
		name, oneLine(err), recoveryHint(name))
}

// oneLine joins the lines of err (errors.Join puts one per line).
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
