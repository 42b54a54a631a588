package config

import "strings"

// template is the commented config `steward-agent init` writes. Every value
// a practice must change is marked CHANGE ME.
const template = `# Steward agent configuration, version 1.
# After editing, run:  steward-agent check --config THIS_FILE
version: 1

# The practice's ODS code. CHANGE ME.
practice: PRACTICE_ODS

database:
  # The practice reporting database, read-only. Give exactly one of:
  #   url:      sqlite:/path/to/practice.db (no password: fine to write here)
  #   url_file: a file holding e.g. sqlserver://steward_reader:PASSWORD@server?database=Reporting
  #             (make it readable only by the service account)
  #   url_env:  the name of an environment variable holding the URL
  # Use a login that can only read (SQL Server: db_datareader; PostgreSQL:
  # a role with SELECT only). CHANGE ME.
  url: sqlite:practice.db
  # canonical, tpp (SystmOne), emis (EMIS Web) or a profile file: docs/layouts.md.
  profile: canonical
  # How long one run of the searches may take.
  timeout: 30m

collector:
  # The ICB's Steward collector. CHANGE ME.
  url: https://steward.icb.example
  # A PEM file of CAs to trust for the collector, if your ICB gives you one.
  # ca_file: /etc/steward/icb-ca.pem
  timeout: 60s

schedule:
  # On this day each month the agent runs the month just ended (1-28).
  day_of_month: 5
  # Local time of day of the run.
  time: "02:00"
  # Months missed (agent off, database down) are caught up this far back.
  catch_up_months: 12
  # The first month end ever delivered (your scheme's start).
  # first_as_of: 2025-04-30

# The incentive scheme's baseline month end, from your ICB.
baseline: 2024-03-31

# Where the agent keeps its key, outbox, sent submissions and bundles.
data_dir: DATA_DIR

bundle:
  # Built-in pack to run until the ICB's signed bundle arrives.
  pack: medsip
  # The ICB's pinned root of trust for search bundles.
  # trusted_root: /etc/steward/root.json
  # automatic: a new verified bundle runs at once; manual: it waits for
  # you: steward-agent review VERSION, preview --bundle VERSION, then
  # approve VERSION (docs/install-practice.md, "Approving search updates").
  approval: automatic

# How often the agent tells the collector it is alive.
heartbeat: 6h
log_level: info

# The data-quality gate: a month that fails it is held, not sent, until the
# data are fixed (checked again every cycle) or you release it with
# steward-agent release --as-of DATE. 0 turns a check off.
# quality:
#   min_registered_adults: 1          # fewer: the registrations table looks empty
#   max_adults_change_percent: 10     # registered adults, against last month
#   max_opioid_change_percent: 50     # long-term opioid users, against last month,
#   min_opioid_change: 10             #   when the change is at least this many
#   max_unreadable_percent: 5         # issues with an unreadable date or quantity
#   max_extract_age_days: 7           # newest issue this long before the month end
#   clock_tolerance: 1h               # this server's clock against the collector's
`

// Template returns a commented config for a practice.
func Template(practice, dataDir string) string {
	if practice == "" {
		practice = "Y00000"
	}
	return strings.NewReplacer("PRACTICE_ODS", practice, "DATA_DIR", dataDir).Replace(template)
}
