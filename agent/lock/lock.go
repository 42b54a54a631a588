// Package lock keeps two steward-agent processes from working on one data
// directory at once: two `once` runs started together, or `once` beside
// the service, would otherwise compute and queue the same month twice. It
// holds an operating-system lock on DATA/agent.lock (flock on Unix,
// LockFileEx on Windows), which the system releases when the process ends,
// however it ends: a crash never leaves the directory locked.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FileName is the lock file in the data directory.
const FileName = "agent.lock"

// Lock is a held lock; Release gives it up.
type Lock struct {
	f *os.File
}

// BusyError says another process holds the lock.
type BusyError struct {
	// PID is the holder's process id as it wrote it, or 0 if unknown.
	PID int
}

func (e *BusyError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("another steward-agent (pid %d) is running this cycle", e.PID)
	}
	return "another steward-agent is running this cycle"
}

// ErrBusy is matched by every *BusyError (errors.Is).
var ErrBusy = errors.New("data directory in use")

func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Acquire takes the lock on dir's lock file, trying until wait has passed
// (0: once). It returns a *BusyError when another process keeps it.
func Acquire(ctx context.Context, dir string, wait time.Duration) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			// The holder's pid, for the message a second process prints.
			if err := f.Truncate(0); err == nil {
				_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			}
			return &Lock{f: f}, nil
		}
		if !time.Now().Before(deadline) {
			pid := holder(path)
			f.Close()
			return nil, &BusyError{PID: pid}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// holder reads the pid the lock's holder wrote.
func holder(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Release gives the lock up. The file stays: removing it would let a
// third process lock a new file while a second still waits on the old.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
