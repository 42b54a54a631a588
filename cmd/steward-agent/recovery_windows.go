//go:build windows

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/nhs-steward/steward/installer/service"
	"github.com/nhs-steward/steward/internal/cli"
)

func setServiceRecovery(name, startIfConfig string, stdio cli.IO) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as an administrator): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("open service %s (is it installed?): %w", name, err)
	}
	defer s.Close()

	// Best effort: the service runs without its recovery policy, so a
	// service manager that refuses part of it (Wine implements only some
	// levels of ChangeServiceConfig2) must not roll the installation back.
	if err := configureRecovery(s); err != nil {
		fmt.Fprintf(stdio.Err, "warning: %s\n", recoveryWarning(name, err))
	} else {
		fmt.Fprintf(stdio.Out, "service %s: restarts %s after a failure, failure count reset after %s, delayed automatic start\n",
			name, service.RestartDelay, service.ResetPeriod)
	}

	if startIfConfig == "" {
		return nil
	}
	switch _, err := os.Stat(startIfConfig); {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stdio.Out, "not starting %s: %s does not exist yet (run 'steward-agent init', 'check', then 'start')\n", name, startIfConfig)
		return nil
	case err != nil:
		return fmt.Errorf("config %s: %w", startIfConfig, err)
	}
	// A failed start must not fail the installation: the service exists
	// and is configured; the Event Log says why it did not run.
	if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
		fmt.Fprintf(stdio.Err, "warning: start %s: %v (see the Application event log, then run 'steward-agent start')\n", name, err)
		return nil
	}
	fmt.Fprintf(stdio.Out, "started %s (configured by %s)\n", name, startIfConfig)
	return nil
}

// configureRecovery applies installer/service's recovery policy: one
// action (the SCM repeats the last action for every further failure),
// non-crash failures count, and a delayed automatic start. Each setting is
// applied on its own, so one the service manager refuses does not keep
// the others from being set; the error names every setting that was not.
func configureRecovery(s *mgr.Service) error {
	var errs []error
	actions := []mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: service.RestartDelay}}
	if err := s.SetRecoveryActions(actions, uint32(service.ResetPeriod/time.Second)); err != nil {
		errs = append(errs, fmt.Errorf("set recovery actions: %w", err))
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		errs = append(errs, fmt.Errorf("set recovery on non-crash failures: %w", err))
	}
	delayed := windows.SERVICE_DELAYED_AUTO_START_INFO{IsDelayedAutoStartUp: 1}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&delayed))); err != nil {
		errs = append(errs, fmt.Errorf("set delayed automatic start: %w", err))
	}
	return errors.Join(errs...)
}

// applyServiceRecovery gives an installed service the recovery policy the
// MSI sets; `steward-agent install` calls it after creating the service, as
// a best-effort step (its error is a warning, see installService).
func applyServiceRecovery(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("open service %s: %w", name, err)
	}
	defer s.Close()
	return configureRecovery(s)
}
