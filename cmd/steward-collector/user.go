package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/web"
	"github.com/nhs-steward/steward/reporting/schemes"
)

var signOffPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func userCommand() *cli.Command {
	return &cli.Command{
		Name:    "user",
		Summary: "add, list, change and disable the people who use the collector",
		Sub:     []*cli.Command{userAddCommand(), userListCommand(), userSetCommand(), userTokenCommand()},
	}
}

func userAddCommand() *cli.Command {
	var (
		configFile, name, role, icb, practice, signOff string
		passwordStdin                                  bool
		lifetime                                       time.Duration
	)
	return &cli.Command{
		Name:    "add",
		Summary: "add a user with a password (read from stdin) or an API token (printed once)",
		Usage:   "add --name NAME --role ROLE [--icb CODE] [--practice ODS] [--sign-off ROLES] [--password-stdin | --token-lifetime DURATION] --config FILE",
		Help: `Roles: icb_analyst (sees only the practices of --icb), practice (sees only
--practice), search_author (may publish search bundles), admin (everything).

--sign-off gives the scheme sign-off roles the person holds, comma
separated: the names a scheme's sign_off lists for declare (practice staff,
e.g. practice_manager; needs --role practice and --practice), approve (e.g.
icb_medicines_optimisation_lead) and pay (e.g. icb_finance). Each must be
named by a scheme in force ('scheme add' it first): a practice role only
for a practice user of that scheme's ICB, an ICB role only for a user of
that scheme's ICB (--icb) who is not a practice user. Without one a user,
even an admin, can look at claims but not move them.

NAME is 1 to 64 letters, digits and . _ @ - (starting with a letter or a
digit).

With --password-stdin the first line of standard input is the password,
stored as an argon2id hash: at least 12 characters, not containing the
name, not one of the most used passwords. Without it, an API token is
printed once; only its hash is stored. It works for --token-lifetime
(default: api_token_lifetime in the configuration, 90 days); make a new
one before then with 'user token rotate'.
The token goes alone on standard output (what was done goes to standard
error), so that it can go straight into a file. A search author keeps theirs
for 'steward search publish':
  steward-collector user add --name alice --role search_author --config collector.yaml > publish.token

Examples:
  printf '%s\n' "$PASSWORD" | steward-collector user add --name ana --role icb_analyst --icb QWE --password-stdin --config collector.yaml
  steward-collector user add --name finance-export --role icb_analyst --icb QWE --config collector.yaml
  printf '%s\n' "$PASSWORD" | steward-collector user add --name pm-y01234 --role practice --practice Y01234 --sign-off practice_manager --password-stdin --config collector.yaml
  printf '%s\n' "$PASSWORD" | steward-collector user add --name mo-lead --role icb_analyst --icb QWE --sign-off icb_medicines_optimisation_lead --password-stdin --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			fs.StringVar(&name, "name", "", "the user's sign-in `name`")
			fs.StringVar(&role, "role", "", "icb_analyst, practice, search_author or admin")
			fs.StringVar(&practice, "practice", "", "the `ODS` code of the practice a practice user acts for")
			fs.StringVar(&signOff, "sign-off", "", "scheme sign-off `roles` the user holds, comma separated (e.g. icb_finance)")
			fs.StringVar(&icb, "icb", "", "the ICB `code` an analyst belongs to (default: the configured icb)")
			fs.BoolVar(&passwordStdin, "password-stdin", false, "read a password from standard input instead of printing an API token")
			fs.DurationVar(&lifetime, "token-lifetime", 0, "how long the API token works, e.g. 720h (default: api_token_lifetime)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(need{"name", name}, need{"role", role}); err != nil {
				return err
			}
			u := collector.User{
				Name: name, Role: collector.Role(role),
				ICB: icb, Practice: practice,
			}
			if u.Name == schemes.RoleSteward {
				return cli.Usagef("--name %q is reserved for the collector's own moves of claims", u.Name)
			}
			if !web.ValidUserName(u.Name) {
				return cli.Usagef("--name %q: use 1 to 64 letters, digits and . _ @ -, starting with a letter or digit", u.Name)
			}
			if !u.Role.Valid() {
				return cli.Usagef("--role %q: want icb_analyst, practice, search_author or admin", u.Role)
			}
			if (u.Role == collector.RolePractice) != (u.Practice != "") {
				return cli.Usagef("--practice goes with --role practice, and --role practice needs --practice")
			}
			var err error
			if u.SignOff, err = parseSignOff(signOff); err != nil {
				return err
			}
			if err := checkTokenLifetime("--token-lifetime", lifetime); err != nil {
				return err
			}
			var password string
			if passwordStdin {
				var err error
				if password, err = readPassword(stdio.In, u.Name); err != nil {
					return err
				}
			}
			cfg, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			if u.ICB == "" && u.Role == collector.RoleICBAnalyst {
				u.ICB = cfg.ICB
			}
			if u.Practice != "" {
				p, err := db.Practice(ctx, u.Practice)
				if err != nil {
					return fmt.Errorf("--practice: %w (add it with 'practice add')", err)
				}
				u.ICB = p.ICB
			}
			if err := checkSignOff(ctx, db, u, u.SignOff); err != nil {
				return err
			}
			if password != "" {
				if u.PasswordHash, err = auth.HashPassword(password); err != nil {
					return err
				}
			}
			u, err = db.AddUser(ctx, u, cliActor)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			// What was done goes to standard error when a token follows on
			// standard output, alone, so that it can be redirected to a file.
			report := stdio.Out
			if password == "" {
				report = stdio.Err
			}
			fmt.Fprintf(report, "Added user %s (%s%s%s%s).\n", u.Name, u.Role, map[bool]string{true: ", ICB " + u.ICB}[u.ICB != ""],
				map[bool]string{true: ", practice " + u.Practice}[u.Practice != ""],
				map[bool]string{true: ", sign-off " + strings.Join(u.SignOff, ",")}[len(u.SignOff) > 0])
			if password != "" {
				return nil
			}
			tok, err := auth.NewAPIToken()
			if err != nil {
				return err
			}
			now := time.Now()
			expires := now.Add(tokenLifetime(lifetime, cfg.APITokenLifetime))
			if err := db.AddAPIToken(ctx, u.ID, auth.HashSecret(tok), now, expires); err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			fmt.Fprintf(stdio.Err, "API token on standard output, shown once: keep it in a file readable only by its user; send it as 'Authorization: Bearer TOKEN'; it works until %s.\n", when(expires))
			fmt.Fprintln(stdio.Out, tok)
			return nil
		},
	}
}

func userListCommand() *cli.Command {
	var configFile string
	return &cli.Command{
		Name:    "list",
		Summary: "list users and their roles",
		Usage:   "list --config FILE",
		Flags:   func(fs *flag.FlagSet) { configFlag(fs, &configFile) },
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			_, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			users, err := db.Users(ctx)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			now := time.Now()
			tokens, err := db.TokenExpiries(ctx)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			lockouts, err := db.LoginLockouts(ctx, now)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			locked := map[string]time.Time{}
			for _, l := range lockouts {
				locked[l.Subject] = l.Until
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tICB\tPRACTICE\tSIGN-OFF\tPASSWORD\tCREATED\tTOKEN-EXPIRES\tLOCKED-UNTIL")
			for _, u := range users {
				tok := "-"
				if exp, ok := tokens[u.ID]; ok {
					switch {
					case exp.IsZero():
						tok = "never"
					case !exp.After(now):
						tok = "expired"
					default:
						tok = when(exp)
					}
				}
				lock := "-"
				if until, ok := locked[web.AccountSubject(u.Name)]; ok {
					lock = when(until)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", u.Name, u.Role, dash(u.ICB), dash(u.Practice),
					dash(strings.Join(u.SignOff, ",")), u.PasswordHash != "", when(u.CreatedAt), tok, lock)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			// Lockouts of client addresses, and of names no user has.
			for _, l := range lockouts {
				if !slices.ContainsFunc(users, func(u collector.User) bool { return web.AccountSubject(u.Name) == l.Subject }) {
					fmt.Fprintf(stdio.Out, "Sign-in locked for %s until %s after %d failures.\n", l.Subject, when(l.Until), l.Failures)
				}
			}
			return nil
		},
	}
}

// checkSignOff refuses sign-off roles u may not hold under the schemes in
// force (claims.CheckSignOff), as a usage error naming the fix.
func checkSignOff(ctx context.Context, db *store.DB, u collector.User, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	inForce, err := (&claims.Service{DB: db}).Schemes(ctx)
	if err != nil {
		return cli.WithCode(cli.ExitDatabase, err)
	}
	if err := claims.CheckSignOff(u, roles, inForce); err != nil {
		return cli.Usagef("--sign-off: %v", err)
	}
	return nil
}

// parseSignOff parses --sign-off: role names separated by commas.
func parseSignOff(v string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(v, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if r == schemes.RoleSteward || !signOffPattern.MatchString(r) {
			return nil, cli.Usagef("--sign-off %q: want role names of lower-case letters, digits and _ (steward is reserved)", r)
		}
		out = append(out, r)
	}
	return out, nil
}

func userSetCommand() *cli.Command {
	var configFile, actor, name, signOff string
	var disable, enable, passwordStdin, unlock bool
	return &cli.Command{
		Name:    "set",
		Summary: "change a user's sign-off roles, disable, enable or unlock them",
		Usage:   "set --name NAME [--sign-off ROLES] [--disable | --enable] [--password-stdin] [--unlock] [--actor NAME] --config FILE",
		Help: `--sign-off replaces the user's scheme sign-off roles (comma separated; an
empty value removes them all), checked as 'user add' checks them. --disable stops the user at once: their
browser sessions and API tokens no longer work, and nothing they did is
removed. --enable lets them back in. --password-stdin sets a new password
from the first line of standard input (the rules of 'user add') and ends
the user's browser sessions. --unlock ends a sign-in lockout of the user
after repeated failed sign-ins (lockouts also end by themselves after
sign_in.lockout_duration; 'user list' shows them). Recorded in the audit
log (never the password).

Examples:
  steward-collector user set --name mo-lead --sign-off icb_medicines_optimisation_lead,icb_finance --config collector.yaml
  steward-collector user set --name pm-y01234 --disable --config collector.yaml
  steward-collector user set --name ana --unlock --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			actorFlag(fs, &actor)
			fs.StringVar(&name, "name", "", "the user's `name`")
			fs.StringVar(&signOff, "sign-off", "", "the scheme sign-off `roles` the user holds from now on, comma separated")
			fs.BoolVar(&disable, "disable", false, "stop the user signing in or using tokens")
			fs.BoolVar(&enable, "enable", false, "let a disabled user back in")
			fs.BoolVar(&passwordStdin, "password-stdin", false, "set a new password, read from standard input")
			fs.BoolVar(&unlock, "unlock", false, "end a lockout after repeated failed sign-ins")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(need{"name", name}); err != nil {
				return err
			}
			var change store.UserChange
			// --sign-off "" (remove them all) differs from no --sign-off.
			signOffGiven := false
			fs.Visit(func(f *flag.Flag) { signOffGiven = signOffGiven || f.Name == "sign-off" })
			if signOffGiven {
				roles, err := parseSignOff(signOff)
				if err != nil {
					return err
				}
				change.SignOff = &roles
			}
			switch {
			case disable && enable:
				return cli.Usagef("give --disable or --enable, not both")
			case disable, enable:
				change.Disabled = &disable
			}
			if passwordStdin {
				password, err := readPassword(stdio.In, name)
				if err != nil {
					return err
				}
				hash, err := auth.HashPassword(password)
				if err != nil {
					return err
				}
				change.PasswordHash = &hash
			}
			if change.SignOff == nil && change.Disabled == nil && change.PasswordHash == nil && !unlock {
				return cli.Usagef("nothing to change: give --sign-off, --disable, --enable, --password-stdin or --unlock")
			}
			_, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			if unlock {
				if _, err := db.UserByName(ctx, name); err != nil {
					if errors.Is(err, collector.ErrNotFound) {
						return fmt.Errorf("%w ('user list' shows the users)", err)
					}
					return cli.WithCode(cli.ExitDatabase, err)
				}
				ended, err := db.UnlockLogin(ctx, web.AccountSubject(name), actorName(actor), time.Now())
				if err != nil {
					return cli.WithCode(cli.ExitDatabase, err)
				}
				if ended {
					fmt.Fprintf(stdio.Out, "User %s: unlocked; they can sign in again.\n", name)
				} else {
					fmt.Fprintf(stdio.Out, "User %s: was not locked.\n", name)
				}
				if change.SignOff == nil && change.Disabled == nil && change.PasswordHash == nil {
					return nil
				}
			}
			if change.SignOff != nil {
				old, err := db.UserByName(ctx, name)
				if errors.Is(err, collector.ErrNotFound) {
					return fmt.Errorf("%w ('user list' shows the users)", err)
				}
				if err != nil {
					return cli.WithCode(cli.ExitDatabase, err)
				}
				if err := checkSignOff(ctx, db, old, *change.SignOff); err != nil {
					return err
				}
			}
			u, err := db.ChangeUser(ctx, name, change, actorName(actor), time.Now())
			if err != nil {
				if errors.Is(err, collector.ErrNotFound) {
					return fmt.Errorf("%w ('user list' shows the users)", err)
				}
				return cli.WithCode(cli.ExitDatabase, err)
			}
			state := "enabled"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(stdio.Out, "User %s: %s, sign-off %s.\n", u.Name, state, dash(strings.Join(u.SignOff, ",")))
			return nil
		},
	}
}

// readPassword reads the first line of r as a new password for the user
// called name and checks it against auth.CheckPasswordPolicy.
func readPassword(r io.Reader, name string) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if err := auth.CheckPasswordPolicy(name, password); err != nil {
		return "", cli.Usagef("the %s", err.Error())
	}
	return password, nil
}

// checkTokenLifetime refuses a token lifetime given as less than an hour
// (0: not given).
func checkTokenLifetime(flagName string, d time.Duration) error {
	if d < 0 || (d > 0 && d < time.Hour) {
		return cli.Usagef("%s %s: give at least 1h", flagName, d)
	}
	return nil
}

// tokenLifetime is d (--token-lifetime or --lifetime) when given, else def.
func tokenLifetime(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func userTokenCommand() *cli.Command {
	return &cli.Command{
		Name:    "token",
		Summary: "manage a user's API tokens",
		Sub:     []*cli.Command{userTokenRotateCommand()},
	}
}

func userTokenRotateCommand() *cli.Command {
	var configFile, actor, name string
	var lifetime time.Duration
	return &cli.Command{
		Name:    "rotate",
		Summary: "replace a user's API tokens with a new one (printed once)",
		Usage:   "rotate --name NAME [--lifetime DURATION] [--actor NAME] --config FILE",
		Help: `Every API token the user has stops working at once, and a new one is
printed on standard output, alone on its line, for scripts; what happened
goes to standard error. The new token works for --lifetime (default:
api_token_lifetime in the configuration, 90 days). Recorded in the audit
log (never the token).

Example:
  TOKEN=$(steward-collector user token rotate --name finance-export --config collector.yaml)`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			actorFlag(fs, &actor)
			fs.StringVar(&name, "name", "", "the user's `name`")
			fs.DurationVar(&lifetime, "lifetime", 0, "how long the new token works, e.g. 720h (default: api_token_lifetime)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if err := requireFlags(need{"name", name}); err != nil {
				return err
			}
			if err := checkTokenLifetime("--lifetime", lifetime); err != nil {
				return err
			}
			cfg, db, err := openStore(ctx, configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			tok, err := auth.NewAPIToken()
			if err != nil {
				return err
			}
			now := time.Now()
			expires := now.Add(tokenLifetime(lifetime, cfg.APITokenLifetime))
			if _, err := db.RotateAPIToken(ctx, name, auth.HashSecret(tok), now, expires, actorName(actor)); err != nil {
				if errors.Is(err, collector.ErrNotFound) {
					return fmt.Errorf("%w ('user list' shows the users)", err)
				}
				return cli.WithCode(cli.ExitDatabase, err)
			}
			fmt.Fprintln(stdio.Out, tok)
			fmt.Fprintf(stdio.Err, "New API token for %s, shown once, works until %s; the user's earlier tokens no longer work.\n", name, when(expires))
			return nil
		},
	}
}
