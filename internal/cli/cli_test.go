package cli

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"
)

func TestArgsTakesFlagsAfterArguments(t *testing.T) {
	for _, args := range [][]string{
		{"--config", "a.yaml", "2026.2.0"},
		{"2026.2.0", "--config", "a.yaml"},
		{"2026.2.0", "--config=a.yaml"},
	} {
		fs := flag.NewFlagSet("approve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		config := fs.String("config", "default.yaml", "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		got, err := Args(fs)
		if err != nil || !slices.Equal(got, []string{"2026.2.0"}) || *config != "a.yaml" {
			t.Errorf("Args(%q) = %v, %v, config %q", args, got, err, *config)
		}
	}
	fs := flag.NewFlagSet("approve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Parse([]string{"2026.2.0", "--nope"})
	if _, err := Args(fs); !errors.Is(err, ErrUsage) {
		t.Errorf("an unknown flag after the argument: %v, want a usage error", err)
	}
}
