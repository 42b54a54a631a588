package main

import (
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
)

// user add and user set take only the sign-off roles a scheme in force
// names, practice roles for practice users of that scheme's ICB and ICB
// roles for that ICB's users; each refusal says what to do.
func TestUserSignOffRoles(t *testing.T) {
	cfg, _ := setupReconcile(t, false) // ICB QXX, the example scheme
	addPractices(t, cfg, "QZZ", "Y07777")
	add := func(args ...string) (int, string) {
		code, _, errs := run(t, "a long enough password\n", append([]string{"user", "add", "--password-stdin", "--config", cfg}, args...)...)
		return code, errs
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--name", "pm1", "--role", "practice", "--practice", "Y01001", "--sign-off", "practice_manager"}, 0, ""},
		{[]string{"--name", "lead", "--role", "icb_analyst", "--sign-off", "icb_medicines_optimisation_lead,icb_finance"}, 0, ""},
		{[]string{"--name", "boss", "--role", "admin", "--icb", "QXX", "--sign-off", "icb_finance"}, 0, ""},
		{[]string{"--name", "x1", "--role", "icb_analyst", "--sign-off", "icb_lead"}, cli.ExitUsage,
			`--sign-off: sign-off role refused: "icb_lead" is named by no scheme in force (practice roles: gp_partner, practice_manager; ICB roles: icb_finance, icb_medicines_optimisation_lead): check the spelling, or add the scheme that names it first ('scheme add')`},
		{[]string{"--name", "x2", "--role", "practice", "--practice", "Y01001", "--sign-off", "icb_finance"}, cli.ExitUsage,
			`"icb_finance" is an ICB role (it approves or pays in ICB QXX (example-icb-opioid-mos-2026-27)): a practice user holds only practice roles (declare); give it to an ICB user (--role icb_analyst --icb QXX)`},
		{[]string{"--name", "x3", "--role", "icb_analyst", "--sign-off", "practice_manager"}, cli.ExitUsage,
			`"practice_manager" is a practice role (it declares in ICB QXX (example-icb-opioid-mos-2026-27)): only a practice user holds it (--role practice --practice ODS)`},
		{[]string{"--name", "x4", "--role", "icb_analyst", "--icb", "QZZ", "--sign-off", "icb_finance"}, cli.ExitUsage,
			`"icb_finance" approves or pays only in schemes of ICB QXX (example-icb-opioid-mos-2026-27), and x4 belongs to ICB QZZ: an ICB role is held by that ICB's users (--icb QXX)`},
		{[]string{"--name", "x5", "--role", "practice", "--practice", "Y07777", "--sign-off", "practice_manager"}, cli.ExitUsage,
			`"practice_manager" declares only in schemes of ICB QXX (example-icb-opioid-mos-2026-27), and practice Y07777 is in ICB QZZ`},
		{[]string{"--name", "x6", "--role", "admin", "--sign-off", "icb_finance"}, cli.ExitUsage, "x6 belongs to no ICB"},
	} {
		code, errs := add(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.err) {
			t.Errorf("user add %v: exit %d\n%s\nwant %d and\n%s", tc.args, code, errs, tc.code, tc.err)
		}
	}
	if code, out, _ := run(t, "", "user", "list", "--config", cfg); code != 0 || strings.Contains(out, "x1") || strings.Contains(out, "x6") {
		t.Fatalf("a refused user was added: %d\n%s", code, out)
	}
	set := func(args ...string) (int, string, string) {
		return run(t, "", append([]string{"user", "set", "--config", cfg}, args...)...)
	}
	if code, _, errs := set("--name", "pm1", "--sign-off", "icb_finance"); code != cli.ExitUsage || !strings.Contains(errs, `"icb_finance" is an ICB role`) {
		t.Fatalf("user set a practice user an ICB role: %d %s", code, errs)
	}
	if code, _, errs := set("--name", "lead", "--sign-off", "gp_partner"); code != cli.ExitUsage || !strings.Contains(errs, `"gp_partner" is a practice role`) {
		t.Fatalf("user set an ICB user a practice role: %d %s", code, errs)
	}
	if code, out, errs := set("--name", "pm1", "--sign-off", "gp_partner,practice_manager"); code != 0 || !strings.Contains(out, "sign-off gp_partner,practice_manager") {
		t.Fatalf("user set: %d %s %s", code, out, errs)
	}
	if code, _, errs := set("--name", "nobody", "--sign-off", "icb_finance"); code != cli.ExitFailure || !strings.Contains(errs, "user list") {
		t.Fatalf("user set an unknown user: %d %s", code, errs)
	}
}
