package collector

// Authorisation rules, in one place so every handler asks the same
// questions. A nil user may do nothing.

// CanSeePractice reports whether u may see p's figures: admins see every
// practice, ICB analysts those of their own ICB.
func CanSeePractice(u *User, p *Practice) bool {
	if u == nil || p == nil || u.Disabled {
		return false
	}
	switch u.Role {
	case RoleAdmin:
		return true
	case RoleICBAnalyst:
		return u.ICB != "" && u.ICB == p.ICB
	case RolePractice:
		return u.Practice != "" && u.Practice == p.ODS
	}
	return false
}

// CanSeeICB reports whether u may see the figures of every practice in icb.
func CanSeeICB(u *User, icb string) bool {
	if u == nil || u.Disabled {
		return false
	}
	switch u.Role {
	case RoleAdmin:
		return true
	case RoleICBAnalyst:
		return u.ICB != "" && u.ICB == icb
	}
	return false
}

// CanPublishBundles reports whether u may sign and publish search bundles.
func CanPublishBundles(u *User) bool {
	return u != nil && !u.Disabled && (u.Role == RoleSearchAuthor || u.Role == RoleAdmin)
}

// VisiblePractices returns the practices of ps that u may see, in order.
func VisiblePractices(u *User, ps []Practice) []Practice {
	var out []Practice
	for i := range ps {
		if CanSeePractice(u, &ps[i]) {
			out = append(out, ps[i])
		}
	}
	return out
}
