package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
)

func TestInstallStepsBestEffortWarnsAndCompletes(t *testing.T) {
	var ran []string
	step := func(name string, required bool, err error) installStep {
		return installStep{what: name, required: required, hint: "hint for " + name,
			do:   func() error { ran = append(ran, name); return err },
			undo: func() error { ran = append(ran, "undo "+name); return nil }}
	}
	var out, errb bytes.Buffer
	err := runInstallSteps([]installStep{
		step("register", true, nil),
		step("permissions", true, nil),
		step("event source", false, errors.New("access denied")),
		step("recovery", false, errors.Join(errors.New("set delayed automatic start: Invalid level."), errors.New("second"))),
	}, cli.IO{Out: &out, Err: &errb})
	if err != nil {
		t.Fatalf("best-effort failures failed the install: %v", err)
	}
	if got, want := strings.Join(ran, ","), "register,permissions,event source,recovery"; got != want {
		t.Errorf("ran %s, want %s (nothing undone)", got, want)
	}
	for _, want := range []string{
		"warning  event source: access denied (best effort: the service runs without it); hint for event source",
		"warning  recovery: set delayed automatic start: Invalid level.; second (best effort",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if !strings.Contains(out.String(), "ok       register\n") || !strings.Contains(out.String(), "ok       permissions\n") {
		t.Errorf("stdout does not list the steps done:\n%s", out.String())
	}
}

func TestInstallStepsRequiredFailureUndoesAndFails(t *testing.T) {
	var ran []string
	step := func(name string, required bool, err error) installStep {
		return installStep{what: name, required: required,
			do:   func() error { ran = append(ran, name); return err },
			undo: func() error { ran = append(ran, "undo "+name); return nil }}
	}
	var out, errb bytes.Buffer
	err := runInstallSteps([]installStep{
		step("register", true, nil),
		step("event source", false, nil),
		step("other", true, nil),
		step("permissions", true, fmt.Errorf("set the permissions of C:\\x: %w", errors.New("access denied"))),
		step("recovery", false, nil),
	}, cli.IO{Out: &out, Err: &errb})
	if err == nil {
		t.Fatal("a failed required step did not fail the install")
	}
	if !strings.Contains(err.Error(), "permissions: set the permissions of C:\\x: access denied") || !strings.Contains(err.Error(), "run 'steward-agent install' again") {
		t.Errorf("error does not say which step failed and what to do: %v", err)
	}
	// Every step done is undone, newest first; nothing after the failure runs.
	if got, want := strings.Join(ran, ","), "register,event source,other,permissions,undo other,undo event source,undo register"; got != want {
		t.Errorf("ran %s, want %s", got, want)
	}
}

func TestRecoveryWarningSaysHowToSetItByHand(t *testing.T) {
	w := recoveryWarning("steward-agent", errors.Join(errors.New("set recovery on non-crash failures: Invalid level."), errors.New("set delayed automatic start: Invalid level.")))
	for _, want := range []string{
		"service steward-agent: recovery policy not fully set: set recovery on non-crash failures: Invalid level.; set delayed automatic start: Invalid level.",
		"sc failure steward-agent reset= 86400 actions= restart/60000",
		"sc failureflag steward-agent 1",
		"sc config steward-agent start= delayed-auto",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warning lacks %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "\n") {
		t.Errorf("warning spans lines (an MSI log keeps one line per message):\n%s", w)
	}
}
