package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
)

func TestServiceRecoveryCommand(t *testing.T) {
	p := &cli.Program{Name: "steward-agent", Cmds: []*cli.Command{serviceRecoveryCommand()}}
	var out, errb bytes.Buffer
	if got, want := p.Do(context.Background(), []string{"service-recovery", "--help"}, cli.IO{Out: &out, Err: &errb}), cli.ExitOK; got != want {
		t.Fatalf("service-recovery --help = %d, want %d (%s)", got, want, errb.String())
	}
	// The MSI's custom action passes these flags (installer/packaging
	// checks the .wxs side).
	for _, flag := range []string{"-name", "-start-if-config"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("help lacks %s:\n%s", flag, out.String())
		}
	}
	if runtime.GOOS == "windows" {
		return
	}
	out.Reset()
	errb.Reset()
	if got, want := p.Do(context.Background(), []string{"service-recovery"}, cli.IO{Out: &out, Err: &errb}), cli.ExitUsage; got != want {
		t.Errorf("service-recovery off Windows = %d, want %d", got, want)
	}
	if !strings.Contains(errb.String(), "systemd") {
		t.Errorf("off Windows the error should point at the systemd unit: %s", errb.String())
	}
}
