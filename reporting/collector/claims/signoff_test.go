package claims_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/schemes"
)

func TestCheckSignOff(t *testing.T) {
	example, err := schemes.Load("../../../schemes/medsip-local-example.yaml") // ICB QXX
	if err != nil {
		t.Fatal(err)
	}
	other := *example
	other.ID, other.ICB = "qzz-scheme", "QZZ"
	other.SignOff = schemes.SignOff{Declare: []string{"qzz_pm"}, Approve: []string{"qzz_lead"}, Pay: []string{"icb_finance"}}
	inForce := []*schemes.Scheme{example, &other}
	pm := collector.User{Name: "pm", Role: collector.RolePractice, Practice: "Y01001", ICB: "QXX"}
	ana := collector.User{Name: "ana", Role: collector.RoleICBAnalyst, ICB: "QXX"}
	zed := collector.User{Name: "zed", Role: collector.RoleICBAnalyst, ICB: "QZZ"}
	root := collector.User{Name: "root", Role: collector.RoleAdmin}
	for _, tc := range []struct {
		u     collector.User
		roles []string
		want  string // "" for accepted
	}{
		{pm, []string{"practice_manager", "gp_partner"}, ""},
		{ana, []string{"icb_medicines_optimisation_lead", "icb_finance"}, ""},
		{zed, []string{"qzz_lead", "icb_finance"}, ""},
		{ana, nil, ""},
		{ana, []string{"icb_lead"}, `"icb_lead" is named by no scheme in force (practice roles: gp_partner, practice_manager, qzz_pm; ICB roles: icb_finance, icb_medicines_optimisation_lead, qzz_lead): check the spelling, or add the scheme that names it first ('scheme add')`},
		{pm, []string{"icb_finance"}, `"icb_finance" is an ICB role (it approves or pays in ICB QXX (example-icb-opioid-mos-2026-27) and ICB QZZ (qzz-scheme)): a practice user holds only practice roles (declare); give it to an ICB user (--role icb_analyst --icb QXX)`},
		{pm, []string{"qzz_pm"}, `"qzz_pm" declares only in schemes of ICB QZZ (qzz-scheme), and practice Y01001 is in ICB QXX: a practice user holds the roles of its own ICB's schemes`},
		{ana, []string{"practice_manager"}, `"practice_manager" is a practice role (it declares in ICB QXX (example-icb-opioid-mos-2026-27)): only a practice user holds it (--role practice --practice ODS)`},
		{zed, []string{"icb_medicines_optimisation_lead"}, `"icb_medicines_optimisation_lead" approves or pays only in schemes of ICB QXX (example-icb-opioid-mos-2026-27), and zed belongs to ICB QZZ: an ICB role is held by that ICB's users (--icb QXX)`},
		{root, []string{"icb_medicines_optimisation_lead"}, `"icb_medicines_optimisation_lead" approves or pays only in schemes of ICB QXX (example-icb-opioid-mos-2026-27), and root belongs to no ICB: an ICB role is held by that ICB's users (--icb QXX)`},
	} {
		err := claims.CheckSignOff(tc.u, tc.roles, inForce)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %v: %v", tc.u.Name, tc.roles, err)
			}
			continue
		}
		if !errors.Is(err, claims.ErrSignOffRole) || !strings.HasSuffix(err.Error(), ": "+tc.want) {
			t.Errorf("%s %v:\n got %v\nwant %s", tc.u.Name, tc.roles, err, tc.want)
		}
	}
}
