// Package service runs steward-agent (and steward-collector) as a system
// service with kardianos/service — the Windows Service Control Manager or
// systemd — and holds the single definition of how each is installed: the
// service name, its arguments and paths, and the hardened systemd unit that
// both the .deb packages and the `install` fallback write. Keeping one
// definition is what makes `steward-agent install` agree with the packages.
package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kardianos/service"
)

// Spec describes one installable service.
type Spec struct {
	Name        string // service name on every platform
	DisplayName string
	Description string
	// Binary is the installed executable (Linux packages: /usr/bin/NAME).
	Binary string
	// RunCommand is the subcommand the service manager starts ("run" when
	// empty; the collector's is "serve").
	RunCommand string
	// Config is the absolute config path the service is started with.
	Config string
	// User runs the service on Linux.
	User string
	// StateDir is the systemd StateDirectory= name (under /var/lib).
	StateDir string
	// ConfigExitCode is the exit code meaning "the config is wrong":
	// systemd does not restart on it, so a misconfigured agent does not
	// loop.
	ConfigExitCode int
	// WindowsAccount runs the service on Windows (empty: LocalSystem).
	WindowsAccount string
}

// Windows specifics that the MSI (installer/windows) shares with the
// `install` fallback; a test in installer/packaging holds them together.
const (
	// WindowsNetworkService is the built-in account the agent runs as on
	// Windows: no password, no local administrator rights, and the
	// machine's identity on the network (DOMAIN\HOST$) for integrated
	// SQL Server authentication.
	WindowsNetworkService = `NT AUTHORITY\NetworkService`
	// WindowsAgentDir is the agent's folder under %ProgramData% (config
	// and data) and under Program Files (the executable).
	WindowsAgentDir = "Steward"
	// AgentConfigFile is the agent's config file name in its folder.
	AgentConfigFile = "agent.yaml"
)

// Recovery is what the service manager does when a service fails: restart
// after RestartDelay (systemd RestartSec=, Windows recovery action), and on
// Windows forget earlier failures after ResetPeriod and treat an exit with
// an error like a crash.
const (
	RestartDelay = 60 * time.Second
	ResetPeriod  = 24 * time.Hour
)

// Agent is the practice agent's service.
func Agent(configPath string) Spec {
	if configPath == "" {
		configPath = DefaultAgentConfig()
	}
	return Spec{
		Name:           "steward-agent",
		DisplayName:    "Steward agent",
		Description:    "Computes MedSIP opioid measures at this practice and sends only anonymised aggregates to the ICB.",
		Binary:         "/usr/bin/steward-agent",
		Config:         configPath,
		User:           "steward",
		StateDir:       "steward",
		ConfigExitCode: 3,
		WindowsAccount: WindowsNetworkService,
	}
}

// Collector is the ICB collector's service.
func Collector(configPath string) Spec {
	if configPath == "" {
		configPath = "/etc/steward/collector.yaml"
	}
	return Spec{
		Name:           "steward-collector",
		DisplayName:    "Steward collector",
		Description:    "Receives practices' Steward submissions, reconciles incentive payments and serves the ICB dashboard.",
		Binary:         "/usr/bin/steward-collector",
		RunCommand:     "serve",
		Config:         configPath,
		User:           "steward-collector",
		StateDir:       "steward-collector",
		ConfigExitCode: 3,
	}
}

// DefaultAgentConfig is where the agent's config lives on this platform:
// %ProgramData%\Steward\agent.yaml on Windows (a service starts in
// System32, so the path must be absolute), /etc/steward/agent.yaml elsewhere.
func DefaultAgentConfig() string {
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, WindowsAgentDir, AgentConfigFile)
	}
	return "/etc/steward/agent.yaml"
}

// Arguments are the service's command-line arguments.
func (s Spec) Arguments() []string {
	cmd := s.RunCommand
	if cmd == "" {
		cmd = "run"
	}
	return []string{cmd, "--config", s.Config}
}

// SystemdUnit is the hardened unit file the packages install and the
// `install` fallback writes.
func (s Spec) SystemdUnit() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("[Unit]")
	w("Description=%s", s.DisplayName)
	w("Documentation=man:%s(1)", s.Name)
	w("After=network-online.target")
	w("Wants=network-online.target")
	// Never start an unconfigured service.
	w("ConditionPathExists=%s", s.Config)
	w("")
	w("[Service]")
	w("Type=simple")
	w("User=%s", s.User)
	w("Group=%s", s.User)
	w("ExecStart=%s %s", s.Binary, strings.Join(s.Arguments(), " "))
	w("Restart=on-failure")
	w("RestartSec=%d", int(RestartDelay/time.Second))
	w("RestartPreventExitStatus=%d", s.ConfigExitCode)
	w("TimeoutStopSec=60")
	w("StateDirectory=%s", s.StateDir)
	w("StateDirectoryMode=0750")
	w("UMask=0027")
	w("NoNewPrivileges=yes")
	w("ProtectSystem=strict")
	w("ProtectHome=yes")
	w("PrivateTmp=yes")
	w("PrivateDevices=yes")
	w("ProtectKernelTunables=yes")
	w("ProtectKernelModules=yes")
	w("ProtectKernelLogs=yes")
	w("ProtectControlGroups=yes")
	w("ProtectClock=yes")
	w("ProtectHostname=yes")
	w("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6")
	w("RestrictNamespaces=yes")
	w("RestrictRealtime=yes")
	w("RestrictSUIDSGID=yes")
	w("LockPersonality=yes")
	w("MemoryDenyWriteExecute=yes")
	w("SystemCallArchitectures=native")
	w("SystemCallFilter=@system-service")
	w("CapabilityBoundingSet=")
	w("")
	w("[Install]")
	w("WantedBy=multi-user.target")
	return b.String()
}

// Program is what a service runs: Start must return quickly (the Windows
// SCM gives up after 30 s with error 1053), so it runs in the background
// and Stop cancels it.
type Program struct {
	Run    func(ctx context.Context) error
	cancel context.CancelFunc
	done   chan error
}

// Start implements service.Interface.
func (p *Program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan error, 1)
	go func() { p.done <- p.Run(ctx) }()
	return nil
}

// Stop implements service.Interface.
func (p *Program) Stop(service.Service) error {
	if p.cancel != nil {
		p.cancel()
		return <-p.done
	}
	return nil
}

// ServiceConfig is the kardianos configuration of s, with the executable path
// exe (empty: this executable).
func (s Spec) ServiceConfig(exe string) *service.Config {
	opts := service.KeyValue{
		// Windows recovery: restart after 60 s. Only the library's own
		// Install reads these; steward-agent installs the Windows service
		// itself (cmd/steward-agent/install_windows.go) and sets the whole
		// policy, "non-crash failures too", with applyServiceRecovery, as
		// the MSI's custom action does.
		"OnFailure":              "restart",
		"OnFailureDelayDuration": RestartDelay.String(),
		"OnFailureResetPeriod":   int(ResetPeriod / time.Second),
		"DelayedAutoStart":       true,
	}
	userName := ""
	if runtime.GOOS == "windows" {
		// The same account the MSI's ServiceInstall names.
		userName = s.WindowsAccount
	}
	if runtime.GOOS == "linux" {
		unit := s
		if exe != "" {
			unit.Binary = exe
		}
		opts["SystemdScript"] = unit.SystemdUnit()
	}
	return &service.Config{
		Name:        s.Name,
		DisplayName: s.DisplayName,
		Description: s.Description,
		Executable:  exe,
		Arguments:   s.Arguments(),
		UserName:    userName,
		Option:      opts,
	}
}

// New binds a program to the platform's service manager.
func New(s Spec, exe string, p *Program) (service.Service, error) {
	svc, err := service.New(p, s.ServiceConfig(exe))
	if err != nil {
		return nil, fmt.Errorf("service manager: %w", err)
	}
	return svc, nil
}

// Control runs install, uninstall, start, stop or restart.
func Control(svc service.Service, action string) error {
	if err := service.Control(svc, action); err != nil {
		return fmt.Errorf("%s service: %w", action, err)
	}
	return nil
}

// Status describes the service's state in words.
func Status(svc service.Service) string {
	st, err := svc.Status()
	switch {
	case err == service.ErrNotInstalled:
		return "not installed"
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case st == service.StatusRunning:
		return "running"
	case st == service.StatusStopped:
		return "stopped"
	}
	return "unknown"
}
