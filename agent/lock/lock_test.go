package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSecondHolderIsRefused: within one process two opens of the lock file
// are two open file descriptions, which flock treats as two holders, as it
// would two processes.
func TestSecondHolderIsRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(context.Background(), dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Acquire(context.Background(), dir, 200*time.Millisecond)
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) {
		t.Fatalf("second Acquire = %v, want a BusyError", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("second Acquire gave up after %s, want it to wait 200ms", waited)
	}
	if busy.PID != os.Getpid() {
		t.Errorf("busy pid = %d, want the holder's %d", busy.PID, os.Getpid())
	}
	if want := "another steward-agent (pid " + strconv.Itoa(os.Getpid()) + ") is running this cycle"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(context.Background(), dir, 0)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

// TestWaiterGetsLockWhenFreed: a waiter takes the lock as soon as the
// holder lets go.
func TestWaiterGetsLockWhenFreed(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(context.Background(), dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(100 * time.Millisecond); l.Release() }()
	l2, err := Acquire(context.Background(), dir, 5*time.Second)
	if err != nil {
		t.Fatalf("waiter: %v", err)
	}
	l2.Release()
}

// TestLockDiesWithProcess: a holder that is killed leaves no lock behind.
func TestLockDiesWithProcess(t *testing.T) {
	if os.Getenv("LOCK_HELPER_DIR") != "" {
		if _, err := Acquire(context.Background(), os.Getenv("LOCK_HELPER_DIR"), 0); err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=TestLockDiesWithProcess")
	cmd.Env = append(os.Environ(), "LOCK_HELPER_DIR="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "locked") {
		t.Fatalf("helper did not lock: %q", buf[:n])
	}
	if _, err := Acquire(context.Background(), dir, 0); !errors.Is(err, ErrBusy) {
		t.Fatalf("while the helper holds it: %v, want busy", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(context.Background(), dir, 2*time.Second)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Release()
}
