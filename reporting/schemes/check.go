package schemes

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file checks a loaded scheme beyond its file format: that its periods
// and baseline can be right, and that it agrees with the collector it is
// added to. `steward-collector scheme check` prints what Validate finds and
// `scheme add` refuses a scheme with any problem. Schemes already stored
// are not checked again: a scheme that loads keeps working.

// MaxPeriods is how many monthly periods a scheme may have: one scheme
// year.
const MaxPeriods = 12

// MaxBaselineMonths bounds how long before the first period a baseline may
// be: further back, it is almost always a mistyped year.
const MaxBaselineMonths = 36

// MaxPaymentMonths bounds how long after the final achievement date the
// payment period may end.
const MaxPaymentMonths = 12

// PackVersion is one version of a pack that agents can run.
type PackVersion struct {
	Version string
	// Source says where it comes from: "built in" (every agent has it)
	// or "published" (a bundle in the collector's TUF repository).
	Source string
	// Current marks the version agents run now: the newest published
	// bundle, or the built-in pack when none is published.
	Current bool
}

// Environment is what a collector knows that a scheme must agree with.
type Environment struct {
	// ICB is the ICB code the collector serves.
	ICB string
	// Practices maps the ODS code of every practice the collector knows
	// to its ICB.
	Practices map[string]string
	// PackVersions are the versions of the scheme's pack that agents can
	// run: the built-in pack's and every bundle published.
	PackVersions []PackVersion
	// TUF says whether the collector has a bundle repository
	// (tuf_repository); without one the built-in pack is all there is.
	TUF bool
	// Stored are the schemes the collector holds and has not retired:
	// sign-off roles must mean the same in all of them, and a scheme
	// paying the same practices for the same months is worth a warning.
	Stored []*Scheme
}

// Validate returns what is wrong with s (problems: refuse it) and what looks
// wrong but may be meant (warnings), each at its line in the file with the
// fix. With env nil it checks only the scheme itself.
func Validate(s *Scheme, env *Environment) (problems, warnings Problems) {
	c := &checker{s: s}
	c.periods()
	c.roles()
	if env != nil {
		c.collector(env)
	}
	return c.problems.Sorted(), c.warnings.Sorted()
}

type checker struct {
	s                  *Scheme
	problems, warnings Problems
}

func (c *checker) add(path, msg, fix string) {
	c.problems = append(c.problems, Problem{Pos: c.s.PosOf(path), Path: trimPath(path), Msg: msg, Fix: fix})
}

func (c *checker) warn(path, msg, fix string) {
	c.warnings = append(c.warnings, Problem{Pos: c.s.PosOf(path), Path: trimPath(path), Msg: msg, Fix: fix})
}

// trimPath turns a position key ("practices/Y01001") into the document
// path shown in messages ("practices").
func trimPath(path string) string {
	p, _, _ := strings.Cut(path, "/")
	return p
}

func month(s string) (time.Time, bool) {
	t, err := time.Parse("2006-01", s)
	return t, err == nil
}

func monthsBetween(a, b time.Time) int {
	return (b.Year()-a.Year())*12 + int(b.Month()) - int(a.Month())
}

// periods checks the periods and baseline. The file format already makes
// sure that from is not after to, that the final achievement date is the
// month end of a period, that payment ends after it and that the baseline
// is a month end before the first period; periods are a range of months,
// so none can repeat or overlap.
func (c *checker) periods() {
	s := c.s
	from, okF := month(s.Periods.From)
	to, okT := month(s.Periods.To)
	if !okF || !okT {
		return
	}
	if n := monthsBetween(from, to) + 1; n > MaxPeriods {
		c.add("periods.to", fmt.Sprintf("the periods %s to %s are %d months; a scheme runs for one scheme year, %d months at most", s.Periods.From, s.Periods.To, n, MaxPeriods),
			fmt.Sprintf("end it by %s, and add the next year as a scheme of its own with a new id", from.AddDate(0, MaxPeriods-1, 0).Format("2006-01")))
	}
	if b, err := time.Parse(time.DateOnly, s.Baseline); err == nil {
		if n := monthsBetween(b, from); n > MaxBaselineMonths {
			c.add("baseline", fmt.Sprintf("the baseline %s is %d months before the first period %s (more than %d)", s.Baseline, n, s.Periods.From, MaxBaselineMonths),
				fmt.Sprintf("check the year: the baseline is usually the month end before the first period, %s", monthEndOf(from.AddDate(0, -1, 0)).Format(time.DateOnly)))
		}
	}
	fa, errA := time.Parse(time.DateOnly, s.Periods.FinalAchievementDate)
	pe, errP := time.Parse(time.DateOnly, s.Periods.PaymentPeriodEnd)
	if errA != nil || errP != nil {
		return
	}
	// The final period's figures may arrive until its deadline; payment
	// has to wait for them.
	deadline := fa.AddDate(0, 0, s.Periods.DeadlineDays+1)
	if pe.Before(deadline) {
		c.add("periods.payment_period_end", fmt.Sprintf("the payment period ends %s, but figures for the final period are on time until %s",
			s.Periods.PaymentPeriodEnd, deadline.AddDate(0, 0, -1).Format(time.DateOnly)),
			"end the payment period after the submission deadline, or shorten submission_deadline_days")
	}
	if n := monthsBetween(fa, pe); n > MaxPaymentMonths {
		c.add("periods.payment_period_end", fmt.Sprintf("the payment period ends %s, %d months after the final achievement date %s (more than %d)",
			s.Periods.PaymentPeriodEnd, n, s.Periods.FinalAchievementDate, MaxPaymentMonths),
			"check the year: payment usually ends within a few months of the final achievement date")
	}
}

// roles checks that no sign-off role is both a practice role (declare) and
// an ICB role (approve, pay): collector users hold practice roles only at a
// practice and ICB roles only at the ICB.
func (c *checker) roles() {
	so := c.s.SignOff
	for _, key := range []string{"approve", "pay"} {
		list := so.Approve
		if key == "pay" {
			list = so.Pay
		}
		for _, r := range list {
			if slices.Contains(so.Declare, r) {
				c.add("sign_off."+key+"/"+r, fmt.Sprintf("role %q both declares (a practice role) and %ss (an ICB role)", r, key),
					"give practice staff and ICB staff roles of different names")
			}
		}
	}
}

// collector checks s against what the collector holds.
func (c *checker) collector(env *Environment) {
	s := c.s
	if env.ICB != "" && s.ICB != "" && s.ICB != env.ICB {
		c.add("icb", fmt.Sprintf("the scheme is for ICB %s, but this collector serves ICB %s", s.ICB, env.ICB),
			fmt.Sprintf("write icb: %s if the scheme is this ICB's, or add it at ICB %s's collector", env.ICB, s.ICB))
	}
	if s.AllPractices {
		n := 0
		for _, icb := range env.Practices {
			if icb == s.ICB {
				n++
			}
		}
		if n == 0 {
			c.warn("practices", fmt.Sprintf("no practice of ICB %s is in the collector yet, so the scheme pays no one", s.ICB),
				"add the ICB's practices with 'steward-collector practice add'")
		}
	}
	for _, ods := range s.Practices {
		icb, known := env.Practices[ods]
		switch {
		case !known:
			c.add("practices/"+ods, fmt.Sprintf("practice %s is not in the collector", ods),
				fmt.Sprintf("add it with 'steward-collector practice add --ods %s --name NAME --icb %s', or correct the code", ods, s.ICB))
		case icb != s.ICB:
			c.add("practices/"+ods, fmt.Sprintf("practice %s belongs to ICB %s, not the scheme's ICB %s", ods, icb, s.ICB),
				"remove it from the list: a scheme pays its own ICB's practices only")
		}
	}
	c.pack(env)
	c.stored(env)
}

// pack checks that agents can run a version of the pack in the range.
func (c *checker) pack(env *Environment) {
	s := c.s
	if s.Pack.ID == "" || s.Pack.cons == nil {
		return
	}
	var known []string
	var current *PackVersion
	accepted := false
	for i, v := range env.PackVersions {
		if v.Current {
			current = &env.PackVersions[i]
		}
		if s.Pack.Accepts(s.Pack.ID, v.Version) {
			accepted = true
		}
		known = append(known, v.Version+" ("+v.Source+")")
	}
	if accepted {
		if current != nil && !s.Pack.Accepts(s.Pack.ID, current.Version) {
			c.warn("pack.versions", fmt.Sprintf("agents run pack %s %s (%s) now, which is outside the range %q: their figures fail the pack_version gateway",
				s.Pack.ID, current.Version, current.Source, s.Pack.Versions),
				"check the range is the one meant, or publish a bundle in the range")
		}
		return
	}
	list := "none"
	if len(known) > 0 {
		list = strings.Join(known, ", ")
	}
	msg := fmt.Sprintf("no version of pack %s that agents can run is in the range %q; known: %s", s.Pack.ID, s.Pack.Versions, list)
	fix := "widen the range to include a known version, or publish a bundle in the range ('steward search sign', then 'steward search publish')"
	if !env.TUF {
		msg += "; this collector has no search-bundle repository (tuf_repository), so the built-in pack is the only version agents have"
		fix = "widen the range to include the built-in version, or configure tuf_repository and publish a bundle in the range"
	}
	c.add("pack.versions", msg, fix)
}

// stored compares s with the collector's other schemes.
func (c *checker) stored(env *Environment) {
	s := c.s
	practiceRole := map[string]string{} // role -> scheme naming it to declare
	icbRole := map[string]string{}      // role -> scheme naming it to approve or pay
	for _, o := range env.Stored {
		if o.ID == s.ID {
			continue
		}
		for _, r := range o.SignOff.Declare {
			practiceRole[r] = o.ID
		}
		for _, r := range append(slices.Clone(o.SignOff.Approve), o.SignOff.Pay...) {
			icbRole[r] = o.ID
		}
		if o.ICB == s.ICB && o.Periods.From <= s.Periods.To && s.Periods.From <= o.Periods.To {
			if shared := sharedPractices(s, o); shared != "" {
				c.warn("periods", fmt.Sprintf("scheme %s also pays %s for %s to %s", o.ID, shared, o.Periods.From, o.Periods.To),
					fmt.Sprintf("if this scheme replaces it, retire it ('steward-collector scheme retire --scheme %s') so no month is paid twice", o.ID))
			}
		}
	}
	for _, r := range s.SignOff.Declare {
		if id, ok := icbRole[r]; ok {
			c.add("sign_off.declare/"+r, fmt.Sprintf("role %q is an ICB role (approve or pay) in scheme %s, so it cannot declare here", r, id),
				"give practice staff and ICB staff roles of different names")
		}
	}
	for _, key := range []string{"approve", "pay"} {
		list := s.SignOff.Approve
		if key == "pay" {
			list = s.SignOff.Pay
		}
		for _, r := range list {
			if id, ok := practiceRole[r]; ok {
				c.add("sign_off."+key+"/"+r, fmt.Sprintf("role %q is a practice role (declare) in scheme %s, so it cannot %s here", r, id, key),
					"give practice staff and ICB staff roles of different names")
			}
		}
	}
}

// sharedPractices describes the practices both schemes pay, or "".
func sharedPractices(a, b *Scheme) string {
	switch {
	case a.AllPractices && b.AllPractices:
		return "every practice of ICB " + a.ICB
	case a.AllPractices:
		return describeList(b.Practices)
	case b.AllPractices:
		return describeList(a.Practices)
	}
	var both []string
	for _, ods := range a.Practices {
		if _, found := slices.BinarySearch(b.Practices, ods); found {
			both = append(both, ods)
		}
	}
	if len(both) == 0 {
		return ""
	}
	return describeList(both)
}

func describeList(ods []string) string {
	if len(ods) > 5 {
		return fmt.Sprintf("%s and %d more practices", strings.Join(ods[:5], ", "), len(ods)-5)
	}
	return "practices " + strings.Join(ods, ", ")
}
