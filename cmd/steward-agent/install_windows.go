//go:build windows

package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/installer/service"
	"github.com/nhs-steward/steward/internal/cli"
)

// The ACLs `install` gives the agent's files, the same as the MSI's icacls
// actions: SYSTEM (SY) and Administrators (BA) have full control, the
// service account NetworkService (NS) may read the config and the database
// URL file and modify the data folder (key, outbox); inheritance from the
// parent folder is cut (P), so local users get nothing.
const (
	configFileSDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;NS)"
	// 0x1301bf is "Modify": read, write, execute and delete.
	dataDirSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1301bf;;;NS)"
	// eventLogKey is where the Event Log looks up a source of the
	// Application log (the MSI writes the same values).
	eventLogKey = `SYSTEM\CurrentControlSet\Services\EventLog\Application\`
)

// installService installs the agent's Windows service as the MSI does,
// step by step: see installStep for which steps are required.
func installService(spec service.Spec, exe string, cfg *config.Config, stdio cli.IO) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as an administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(spec.Name); err == nil {
		s.Close()
		return cli.WithCode(cli.ExitUsage, fmt.Errorf("service %s already exists: run 'steward-agent uninstall' first, or upgrade with the MSI", spec.Name))
	}
	var svc *mgr.Service
	defer func() {
		if svc != nil {
			svc.Close()
		}
	}()
	secret := []string{absPath(cfg.Path())}
	if cfg.Database.URLFile != "" {
		secret = append(secret, cfg.Database.URLFile)
	}
	steps := []installStep{{
		what:     "register the service " + spec.Name + " with the service manager (automatic start, " + spec.WindowsAccount + ")",
		required: true,
		do: func() error {
			s, err := m.CreateService(spec.Name, exe, mgr.Config{
				DisplayName:      spec.DisplayName,
				Description:      spec.Description,
				StartType:        mgr.StartAutomatic,
				ErrorControl:     mgr.ErrorNormal,
				ServiceStartName: spec.WindowsAccount,
			}, spec.Arguments()...)
			svc = s
			return err
		},
		undo: func() error { return svc.Delete() },
	}, {
		what:     "close the config and the database URL file to all but administrators, SYSTEM and the service",
		required: true,
		do: func() error {
			for _, p := range secret {
				if err := setACL(p, configFileSDDL); err != nil {
					return err
				}
			}
			return nil
		},
	}, {
		what:     "close the data folder " + cfg.DataDir + " (practice key, outbox) to all but administrators, SYSTEM and the service",
		required: true,
		do: func() error {
			if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
				return err
			}
			return setACL(cfg.DataDir, dataDirSDDL)
		},
	}, {
		what: "register the Event Log source " + spec.Name,
		do:   func() error { return addEventSource(spec.Name) },
		hint: "the messages still reach the Application log, without their source's name",
	}, {
		what: fmt.Sprintf("set the recovery policy (restart %s after a failure, delayed automatic start)", service.RestartDelay),
		do:   func() error { return applyServiceRecovery(spec.Name) },
		hint: recoveryHint(spec.Name),
	}}
	return runInstallSteps(steps, stdio)
}

// uninstallService removes the service (required) and its Event Log
// source (best effort: a source that was never registered is no error).
// Config and data are kept.
func uninstallService(spec service.Spec, stdio cli.IO) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as an administrator): %w", err)
	}
	defer m.Disconnect()
	return runInstallSteps([]installStep{{
		what:     "remove the service " + spec.Name,
		required: true,
		do: func() error {
			s, err := m.OpenService(spec.Name)
			if err != nil {
				return fmt.Errorf("open service %s (is it installed?): %w", spec.Name, err)
			}
			defer s.Close()
			return s.Delete()
		},
	}, {
		what: "remove the Event Log source " + spec.Name,
		do: func() error {
			err := registry.DeleteKey(registry.LOCAL_MACHINE, eventLogKey+spec.Name)
			if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
				return nil
			}
			return err
		},
	}}, stdio)
}

// setACL replaces the DACL of path by the one in sddl.
func setACL(path, sddl string) error {
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return fmt.Errorf("security descriptor %s: %w", sddl, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("security descriptor %s: %w", sddl, err)
	}
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("set the permissions of %s: %w", path, err)
	}
	return nil
}

// addEventSource registers name as an Event Log source of the Application
// log with EventCreate.exe's messages, as the MSI does. Unlike
// eventlog.InstallAsEventCreate it creates missing parent keys and
// rewrites an existing source.
func addEventSource(name string) error {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, eventLogKey+name, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	if err := k.SetExpandStringValue("EventMessageFile", `%SystemRoot%\System32\EventCreate.exe`); err != nil {
		return err
	}
	if err := k.SetDWordValue("TypesSupported", windows.EVENTLOG_ERROR_TYPE|windows.EVENTLOG_WARNING_TYPE|windows.EVENTLOG_INFORMATION_TYPE); err != nil {
		return err
	}
	return k.SetDWordValue("CustomSource", 1)
}
