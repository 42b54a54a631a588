//go:build windows

package service

import (
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// Interactive reports whether the program runs from a terminal rather than
// under the Windows service manager.
//
// kardianos/service (and svc.IsWindowsService) take a process for a
// service only when its parent is services.exe in session 0. Wine's
// service manager runs services in session 1, so there the agent would
// run as a console program the service manager never hears from, and be
// stopped as hung; a services.exe parent is enough here, since only the
// service manager starts a program from services.exe. The Windows check in
// CI (installer/wine-check.sh) runs the service under Wine this way.
func Interactive() bool {
	if ok, err := svc.IsWindowsService(); err == nil && ok {
		return false
	}
	return !parentIsServiceManager()
}

// parentIsServiceManager reports whether this process's parent is
// services.exe.
func parentIsServiceManager() bool {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return false
	}
	defer windows.CloseHandle(snap)
	names := map[uint32]string{}
	var parent uint32
	self := windows.GetCurrentProcessId()
	e := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		names[e.ProcessID] = windows.UTF16ToString(e.ExeFile[:])
		if e.ProcessID == self {
			parent = e.ParentProcessID
		}
	}
	return parent != 0 && strings.EqualFold(names[parent], "services.exe")
}

// Serve hands p to the Windows service manager as s's service and returns
// when the manager has stopped it. It does what kardianos/service's Run
// does for a service, without the library's own service detection (see
// Interactive).
func Serve(s Spec, p service.Interface) error {
	h := &handler{p: p}
	if err := svc.Run(s.Name, h); err != nil {
		return fmt.Errorf("service manager: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// handler answers the service manager: Start when it starts the service,
// Stop when it stops it or the machine shuts down.
type handler struct {
	p   service.Interface
	mu  sync.Mutex
	err error
}

func (h *handler) fail(err error) {
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
}

// Execute implements svc.Handler. A failed start is reported as
// service-specific exit code 1 and a failed stop as 2, as kardianos/service
// does; the Event Log holds the reason.
func (h *handler) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	changes <- svc.Status{State: svc.StartPending}
	if err := h.p.Start(nil); err != nil {
		h.fail(err)
		return true, 1
	}
	changes <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for c := range r {
		switch c.Cmd {
		case svc.Interrogate:
			changes <- c.CurrentStatus
		case svc.Stop, svc.Shutdown:
			changes <- svc.Status{State: svc.StopPending}
			if err := h.p.Stop(nil); err != nil {
				h.fail(err)
				return true, 2
			}
			return false, 0
		}
	}
	return false, 0
}
