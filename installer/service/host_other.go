//go:build !windows

package service

import (
	"fmt"

	"github.com/kardianos/service"
)

// Interactive reports whether the program runs from a terminal rather than
// under a service manager (systemd).
func Interactive() bool { return service.Interactive() }

// Serve hands p to the service manager as s's service and returns when the
// service stops.
func Serve(s Spec, p service.Interface) error {
	svc, err := service.New(p, s.ServiceConfig(""))
	if err != nil {
		return fmt.Errorf("service manager: %w", err)
	}
	return svc.Run()
}
