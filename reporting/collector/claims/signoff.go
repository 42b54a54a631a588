package claims

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// ErrSignOffRole marks sign-off roles a user may not hold.
var ErrSignOffRole = errors.New("sign-off role refused")

// roleUse is where the schemes in force name one sign-off role.
type roleUse struct {
	declare map[string][]string // ICB -> scheme ids naming it to declare
	icb     map[string][]string // ICB -> scheme ids naming it to approve or pay
}

// CheckSignOff checks the sign-off roles u is to hold against the schemes in
// force: every role must be one a scheme names, a practice role (declare)
// only for a practice user of that scheme's ICB, and an ICB role (approve,
// pay) only for a user of that scheme's ICB who is not a practice user. The
// error wraps ErrSignOffRole and says, role by role, what is wrong and how
// to put it right.
func CheckSignOff(u collector.User, roles []string, inForce []*schemes.Scheme) error {
	uses := map[string]*roleUse{}
	use := func(r string) *roleUse {
		if uses[r] == nil {
			uses[r] = &roleUse{declare: map[string][]string{}, icb: map[string][]string{}}
		}
		return uses[r]
	}
	var practiceRoles, icbRoles []string
	for _, sc := range inForce {
		for _, r := range sc.SignOff.Declare {
			use(r).declare[sc.ICB] = append(use(r).declare[sc.ICB], sc.ID)
			practiceRoles = append(practiceRoles, r)
		}
		for _, r := range append(slices.Clone(sc.SignOff.Approve), sc.SignOff.Pay...) {
			use(r).icb[sc.ICB] = append(use(r).icb[sc.ICB], sc.ID)
			icbRoles = append(icbRoles, r)
		}
	}
	known := func(list []string) string {
		slices.Sort(list)
		list = slices.Compact(list)
		if len(list) == 0 {
			return "none"
		}
		return strings.Join(list, ", ")
	}
	org := "no ICB"
	if u.ICB != "" {
		org = "ICB " + u.ICB
	}
	var problems []string
	for _, r := range roles {
		ru := uses[r]
		switch {
		case ru == nil:
			problems = append(problems, fmt.Sprintf("%q is named by no scheme in force (practice roles: %s; ICB roles: %s): check the spelling, or add the scheme that names it first ('scheme add')",
				r, known(practiceRoles), known(icbRoles)))
		case u.Role == collector.RolePractice:
			if len(ru.declare[u.ICB]) > 0 {
				continue
			}
			if len(ru.declare) == 0 {
				problems = append(problems, fmt.Sprintf("%q is an ICB role (it approves or pays in %s): a practice user holds only practice roles (declare); give it to an ICB user (--role icb_analyst --icb %s)",
					r, schemesOf(ru.icb), firstKey(ru.icb)))
				continue
			}
			problems = append(problems, fmt.Sprintf("%q declares only in schemes of %s, and practice %s is in %s: a practice user holds the roles of its own ICB's schemes",
				r, schemesOf(ru.declare), u.Practice, org))
		default:
			if len(ru.icb[u.ICB]) > 0 {
				continue
			}
			if len(ru.icb) == 0 {
				problems = append(problems, fmt.Sprintf("%q is a practice role (it declares in %s): only a practice user holds it (--role practice --practice ODS)",
					r, schemesOf(ru.declare)))
				continue
			}
			problems = append(problems, fmt.Sprintf("%q approves or pays only in schemes of %s, and %s belongs to %s: an ICB role is held by that ICB's users (--icb %s)",
				r, schemesOf(ru.icb), u.Name, org, firstKey(ru.icb)))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrSignOffRole, strings.Join(problems, "; "))
}

// schemesOf describes schemes by ICB: "ICB QXX (s1, s2)".
func schemesOf(byICB map[string][]string) string {
	var parts []string
	for _, icb := range slices.Sorted(maps.Keys(byICB)) {
		parts = append(parts, fmt.Sprintf("ICB %s (%s)", icb, strings.Join(byICB[icb], ", ")))
	}
	return strings.Join(parts, " and ")
}

func firstKey(m map[string][]string) string {
	keys := slices.Sorted(maps.Keys(m))
	if len(keys) == 0 {
		return "CODE"
	}
	return keys[0]
}
