// Package cli is the small command framework the three Steward programs
// share: subcommands with their own flag sets, help that teaches, and one
// table that turns errors into documented exit codes (the service manager
// and the installers rely on them).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nhs-steward/steward/internal/buildinfo"
)

// Exit codes. They are part of the programs' interface: installers and
// service managers branch on them.
const (
	ExitOK       = 0
	ExitFailure  = 1 // the command ran and failed
	ExitUsage    = 2 // bad flags or arguments
	ExitConfig   = 3 // configuration or input file is invalid
	ExitDatabase = 4 // the practice database could not be reached or read
	ExitNetwork  = 5 // the collector could not be reached
)

// ErrUsage marks a usage error; Do prints the command's usage after it.
var ErrUsage = errors.New("usage")

// ExitError carries an explicit exit code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// WithCode wraps err so that Do exits with code.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Usagef returns a usage error with a message.
func Usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}

// IO is what a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string // one line for the command list
	// Usage is the synopsis after the program name, e.g. "synth --patients N [flags]".
	Usage string
	// Help is the longer explanation shown by --help, with examples.
	Help string
	// Flags declares the command's flags on fs; it may be nil. Bind each
	// flag to a typed variable the command's constructor declares
	// (fs.StringVar(&name, "name", ...)) and read the variable in Run:
	// never fs.Lookup("name"), which panics at run time once the flag is
	// renamed (TestCommandsReadTypedFlags refuses it under cmd/). Flags is
	// called before every Run, which resets the variables to their defaults.
	Flags func(fs *flag.FlagSet)
	// Run runs the command with the flag set parsed (for its arguments,
	// fs.Args, and which flags were given, fs.Visit).
	Run func(ctx context.Context, fs *flag.FlagSet, stdio IO) error
	// Sub holds nested subcommands (e.g. "search lint"); when set, Run is unused.
	Sub []*Command
}

// Program is a set of commands.
type Program struct {
	Name    string
	Summary string
	Help    string
	Cmds    []*Command
}

// Do runs the program with args and returns the process exit code.
func (p *Program) Do(ctx context.Context, args []string, stdio IO) int {
	return p.dispatch(ctx, p.Name, p.Summary, p.Help, p.Cmds, args, stdio)
}

func (p *Program) dispatch(ctx context.Context, path, summary, help string, cmds []*Command, args []string, stdio IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			return p.dispatch(ctx, path, summary, help, cmds, append(args[1:], "--help"), stdio)
		}
		printList(stdio.Out, path, summary, help, cmds)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	if path == p.Name && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintf(stdio.Out, "%s %s\n", p.Name, buildinfo.String())
		return ExitOK
	}
	for _, c := range cmds {
		if c.Name != args[0] {
			continue
		}
		full := path + " " + c.Name
		if len(c.Sub) > 0 {
			return p.dispatch(ctx, full, c.Summary, c.Help, c.Sub, args[1:], stdio)
		}
		fs := flag.NewFlagSet(full, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if c.Flags != nil {
			c.Flags(fs)
		}
		usage := func(w io.Writer) {
			fmt.Fprintf(w, "Usage: %s %s\n\n%s\n", path, c.Usage, c.Summary)
			if c.Help != "" {
				fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Help))
			}
			if hasFlags(fs) {
				fmt.Fprintln(w, "\nFlags:")
				fs.SetOutput(w)
				fs.PrintDefaults()
				fs.SetOutput(io.Discard)
			}
		}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usage(stdio.Out)
				return ExitOK
			}
			fmt.Fprintf(stdio.Err, "%s: %v\n\n", full, err)
			usage(stdio.Err)
			return ExitUsage
		}
		err := c.Run(ctx, fs, stdio)
		if err == nil {
			return ExitOK
		}
		fmt.Fprintf(stdio.Err, "%s: %v\n", full, err)
		var ee *ExitError
		switch {
		case errors.Is(err, ErrUsage):
			fmt.Fprintln(stdio.Err)
			usage(stdio.Err)
			return ExitUsage
		case errors.As(err, &ee):
			return ee.Code
		case errors.Is(err, context.Canceled):
			return ExitFailure
		}
		return ExitFailure
	}
	fmt.Fprintf(stdio.Err, "%s: unknown command %q\n\n", path, args[0])
	printList(stdio.Err, path, summary, help, cmds)
	return ExitUsage
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func printList(w io.Writer, path, summary, help string, cmds []*Command) {
	fmt.Fprintf(w, "%s: %s\n", path, summary)
	if help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(help))
	}
	fmt.Fprintf(w, "\nUsage: %s COMMAND [flags]\n\nCommands:\n", path)
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.Name))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
	if !strings.Contains(path, " ") {
		fmt.Fprintf(w, "  %-*s  %s\n", width, "version", "print the version")
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags and examples.\n", path)
}

// Args returns a command's positional arguments, parsing flags that come
// after them too ("approve 2026.2.0 --config FILE"): the flag package
// stops at the first argument that is not a flag.
func Args(fs *flag.FlagSet) ([]string, error) {
	var args []string
	for fs.NArg() > 0 {
		args = append(args, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, Usagef("%v", err)
		}
	}
	return args, nil
}
