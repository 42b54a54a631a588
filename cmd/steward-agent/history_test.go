package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
)

// TestOnceHistoryFlag: --history takes 2 to 60 month ends and is not
// combined with --as-of; each refusal says how to fix it.
func TestOnceHistoryFlag(t *testing.T) {
	p := &cli.Program{Name: "steward-agent", Cmds: []*cli.Command{onceCommand()}}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"once", "--history", "1"}, "from 2 to 60"},
		{[]string{"once", "--history", "61"}, "from 2 to 60"},
		{[]string{"once", "--history", "12", "--as-of", "2025-03-31"}, "cannot be combined"},
	} {
		var out, errb bytes.Buffer
		if got, want := p.Do(context.Background(), c.args, cli.IO{Out: &out, Err: &errb}), cli.ExitUsage; got != want {
			t.Errorf("%v = %d, want %d (%s)", c.args, got, want, errb.String())
		}
		if !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: stderr %q lacks %q", c.args, errb.String(), c.want)
		}
	}
}
