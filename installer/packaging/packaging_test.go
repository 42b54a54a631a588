package packaging

import (
	"archive/tar"
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	agentconfig "github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/installer/service"
	collectorconfig "github.com/nhs-steward/steward/reporting/collector/config"
)

var update = flag.Bool("update", false, "rewrite the committed unit files under installer/linux")

// The .deb packages and `steward-agent install` write the same unit: the
// committed files the packages ship are installer/service's.
func TestCommittedUnitsAreTheServiceDefinition(t *testing.T) {
	for name, want := range Units() {
		path := filepath.Join("..", "linux", name)
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (generate it: go run ./installer/cmd/genpkg units installer/linux)", err)
		}
		if string(got) != want {
			t.Errorf("%s differs from installer/service: run go run ./installer/cmd/genpkg units installer/linux\n--- got\n%s\n--- want\n%s", path, got, want)
		}
	}
	a := AgentLinux().SystemdUnit()
	for _, want := range []string{
		"ExecStart=/usr/bin/steward-agent run --config /etc/steward/agent.yaml\n",
		"ConditionPathExists=/etc/steward/agent.yaml\n",
		"User=steward\n", "StateDirectory=steward\n",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("agent unit lacks %q", want)
		}
	}
	c := CollectorLinux().SystemdUnit()
	for _, want := range []string{
		"ExecStart=/usr/bin/steward-collector serve --config /etc/steward/collector.yaml\n",
		"User=steward-collector\n", "StateDirectory=steward-collector\n",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("collector unit lacks %q", want)
		}
	}
}

// The nfpm configs install the committed units where systemd looks, the
// binaries where the units start them, and the maintainer scripts name the
// accounts and directories the units use.
func TestDebConfigsAgreeWithService(t *testing.T) {
	for _, s := range []service.Spec{AgentLinux(), CollectorLinux()} {
		cfg := read(t, filepath.Join("..", "linux", s.Name+".nfpm.yaml"))
		for _, want := range []string{
			"name: " + s.Name + "\n",
			"src: installer/linux/" + s.Name + ".service\n    dst: " + LinuxUnitDir + "/" + s.Name + ".service\n",
			"dst: " + s.Binary + "\n",
			"dst: " + s.Config + ".example\n    expand: true\n    type: config\n",
		} {
			if !strings.Contains(cfg, want) {
				t.Errorf("%s.nfpm.yaml lacks %q", s.Name, want)
			}
		}
		postinst := read(t, filepath.Join("..", "linux", s.Name, "postinst"))
		postrm := read(t, filepath.Join("..", "linux", s.Name, "postrm"))
		for _, want := range []string{"SERVICE=" + s.Name + "\n", "ACCOUNT=" + s.User + "\n", "STATE=/var/lib/" + s.StateDir + "\n"} {
			if !strings.Contains(postinst, want) || !strings.Contains(postrm, want) {
				t.Errorf("%s maintainer scripts lack %q", s.Name, want)
			}
		}
		if !strings.Contains(postrm, "CONFIG="+s.Config+"\n") {
			t.Errorf("%s postrm does not purge %s", s.Name, s.Config)
		}
		// Never start: no "start" of the unit in the scripts (try-restart
		// only restarts a service that is already running).
		for _, bad := range []string{"invoke start", "systemctl start", "enable --now"} {
			if strings.Contains(postinst, bad) {
				t.Errorf("%s postinst starts the service (%q)", s.Name, bad)
			}
		}
	}
}

func TestConfigExamplesAreValidTemplates(t *testing.T) {
	lin := AgentConfigExample("linux")
	if !strings.Contains(lin, "\ndata_dir: /var/lib/"+AgentLinux().StateDir+"\n") {
		t.Errorf("linux example does not keep data in the unit's StateDirectory:\n%s", lin)
	}
	if _, err := agentconfig.Parse("agent.yaml.example", []byte(lin)); err != nil {
		t.Errorf("linux example does not parse: %v", err)
	}
	win := AgentConfigExample("windows")
	if !strings.Contains(win, `data_dir: C:\ProgramData\Steward\data`+"\n") {
		t.Errorf("windows example does not keep data in the MSI's data folder:\n%s", win)
	}
	if _, err := agentconfig.Parse("agent.yaml.example", []byte(win)); err != nil {
		t.Errorf("windows example does not parse: %v", err)
	}
	col, err := CollectorConfigExample()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(col, `storage: "sqlite:/var/lib/steward-collector/steward-collector.db"`) {
		t.Errorf("collector example keeps its store outside the state directory:\n%s", col)
	}
	cfg, err := collectorconfig.Parse("/etc/steward/collector.yaml.example", []byte(col))
	if err != nil {
		t.Fatalf("collector example does not parse: %v", err)
	}
	// The service account cannot write /etc/steward: the receipt key made
	// on first start must be in the state directory.
	if want := "/var/lib/steward-collector/steward-collector-receipt.key"; cfg.ReceiptKey != want {
		t.Errorf("collector example's receipt key is %q, want %q", cfg.ReceiptKey, want)
	}
}

func TestVersionsOf(t *testing.T) {
	for _, c := range []struct {
		describe string
		commits  int
		deb, msi string
	}{
		{"v1.2.3", 40, "1.2.3", "1.2.3"},
		{"1.2.3", 40, "1.2.3", "1.2.3"},
		{"v1.2.3-dirty", 40, "1.2.3+dirty", "1.2.3"},
		{"v1.2.3-rc1", 40, "1.2.3~rc1", "1.2.3"},
		{"v1.2.3-4-gabc1234", 44, "1.2.3+4.gabc1234", "1.2.3"},
		{"v1.2.3-rc.2-4-gabc1234-dirty", 44, "1.2.3~rc.2+4.gabc1234.dirty", "1.2.3"},
		{"abc1234", 20, "0.0.20+gabc1234", "0.0.20"},
		{"abc1234-dirty", 20, "0.0.20+gabc1234.dirty", "0.0.20"},
		{"dev", 0, "0.0.0+dev", "0.0.0"},
	} {
		v, err := VersionsOf(c.describe, c.commits)
		if err != nil {
			t.Errorf("VersionsOf(%q) error: %v", c.describe, err)
			continue
		}
		if v.Deb != c.deb || v.MSI != c.msi {
			t.Errorf("VersionsOf(%q, %d) = deb %q msi %q, want deb %q msi %q", c.describe, c.commits, v.Deb, v.MSI, c.deb, c.msi)
		}
	}
	for _, bad := range []string{"v256.0.0", "v1.2.65536", "release-7", "v1.2"} {
		if _, err := VersionsOf(bad, 1); err == nil {
			t.Errorf("VersionsOf(%q) accepted a version an MSI or a .deb cannot carry", bad)
		}
	}
	if _, err := VersionsOf("abc1234", 70000); err == nil {
		t.Errorf("VersionsOf accepted 70000 commits as an MSI build number")
	}
}

// --- the MSI ---------------------------------------------------------------

type wxs struct {
	Product struct {
		Version    string     `xml:"Version,attr"`
		Upgrade    string     `xml:"UpgradeCode,attr"`
		MajorUpg   []struct{} `xml:"MajorUpgrade"`
		Directory  wxsDir     `xml:"Directory"`
		CustomActs []struct {
			ID       string `xml:"Id,attr"`
			FileKey  string `xml:"FileKey,attr"`
			Property string `xml:"Property,attr"`
			Value    string `xml:"Value,attr"`
			Exe      string `xml:"ExeCommand,attr"`
			Execute  string `xml:"Execute,attr"`
			Imperson string `xml:"Impersonate,attr"`
		} `xml:"CustomAction"`
		Sequence []struct {
			Action    string `xml:"Action,attr"`
			Sequence  int    `xml:"Sequence,attr"`
			Condition string `xml:",chardata"`
		} `xml:"InstallExecuteSequence>Custom"`
	} `xml:"Product"`
}

type wxsDir struct {
	ID         string   `xml:"Id,attr"`
	Name       string   `xml:"Name,attr"`
	Dirs       []wxsDir `xml:"Directory"`
	Components []struct {
		ID    string `xml:"Id,attr"`
		Files []struct {
			ID   string `xml:"Id,attr"`
			Name string `xml:"Name,attr"`
		} `xml:"File"`
		Service []struct {
			Name, DisplayName, Description, Account, Arguments, Start, Type string `xml:",attr"`
		} `xml:"ServiceInstall"`
		Control []struct {
			Name, Start, Stop, Remove string `xml:",attr"`
		} `xml:"ServiceControl"`
		RegKey []struct {
			Root, Key string `xml:",attr"`
			Values    []struct {
				Name, Type, Value string `xml:",attr"`
			} `xml:"RegistryValue"`
		} `xml:"RegistryKey"`
	} `xml:"Component"`
}

func (d wxsDir) find(id string) *wxsDir {
	if d.ID == id {
		return &d
	}
	for _, c := range d.Dirs {
		if f := c.find(id); f != nil {
			return f
		}
	}
	return nil
}

func readWXS(t *testing.T) *wxs {
	t.Helper()
	var w wxs
	if err := xml.Unmarshal([]byte(read(t, filepath.Join("..", "windows", "steward-agent.wxs"))), &w); err != nil {
		t.Fatalf("steward-agent.wxs: %v", err)
	}
	return &w
}

// resolveMSI formats MSI properties as a standard Windows installation
// resolves them.
func resolveMSI(s string) string {
	return strings.NewReplacer(
		"[CommonAppDataFolder]", WindowsProgramData+`\`,
		"[ProgramFiles64Folder]", `C:\Program Files\`,
		"[System64Folder]", `C:\Windows\System32\`,
	).Replace(s)
}

// splitWindowsArgs splits a command line the way a Windows program's C
// runtime does for the arguments used here (quotes group, no escapes).
func splitWindowsArgs(s string) []string {
	var args []string
	var cur strings.Builder
	quoted, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, have = !quoted, true
		case r == ' ' && !quoted:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// The MSI's service is installer/service's agent: same name, display name,
// description, account and arguments as `steward-agent install` gives the
// Windows service manager.
func TestMSIServiceAgreesWithService(t *testing.T) {
	w := readWXS(t)
	want := AgentWindows()
	root := w.Product.Directory
	pf := root.find("ProgramFiles64Folder")
	if pf == nil || len(pf.Dirs) != 1 || pf.Dirs[0].Name != service.WindowsAgentDir {
		t.Fatalf("the exe is not installed in ProgramFiles64Folder\\%s", service.WindowsAgentDir)
	}
	pd := root.find("CommonAppDataFolder")
	if pd == nil || len(pd.Dirs) != 1 || pd.Dirs[0].Name != service.WindowsAgentDir {
		t.Fatalf("no CommonAppDataFolder\\%s folder", service.WindowsAgentDir)
	}
	var found int
	for _, c := range pf.Dirs[0].Components {
		for _, s := range c.Service {
			found++
			if s.Name != want.Name || s.DisplayName != want.DisplayName || s.Description != want.Description {
				t.Errorf("ServiceInstall %q/%q/%q, want %q/%q/%q", s.Name, s.DisplayName, s.Description, want.Name, want.DisplayName, want.Description)
			}
			if s.Account != want.WindowsAccount {
				t.Errorf("ServiceInstall Account %q, want %q", s.Account, want.WindowsAccount)
			}
			if got := splitWindowsArgs(resolveMSI(s.Arguments)); !slices.Equal(got, want.Arguments()) {
				t.Errorf("ServiceInstall Arguments %q resolve to %q, want %q", s.Arguments, got, want.Arguments())
			}
			if !strings.Contains(s.Arguments, `"[CommonAppDataFolder]`) {
				t.Errorf("ServiceInstall Arguments %q: the config path must be absolute and quoted", s.Arguments)
			}
			if s.Start != "auto" || s.Type != "ownProcess" {
				t.Errorf("ServiceInstall Start=%q Type=%q, want auto ownProcess (as install)", s.Start, s.Type)
			}
			if len(c.Files) != 1 || c.Files[0].Name != want.Name+".exe" {
				t.Errorf("the service's component does not hold %s.exe", want.Name)
			}
		}
		for _, sc := range c.Control {
			if sc.Name != want.Name || sc.Remove != "uninstall" || sc.Stop != "both" {
				t.Errorf("ServiceControl %+v: want Name %s, Stop both, Remove uninstall", sc, want.Name)
			}
			if sc.Start != "" {
				t.Errorf("ServiceControl starts the service (Start=%q): an unconfigured agent must never start", sc.Start)
			}
		}
		for _, k := range c.RegKey {
			if k.Key != `SYSTEM\CurrentControlSet\Services\EventLog\Application\`+want.Name || k.Root != "HKLM" {
				t.Errorf("registry key %s\\%s is not the agent's Event Log source", k.Root, k.Key)
			}
		}
	}
	if found != 1 {
		t.Fatalf("%d ServiceInstall elements, want 1", found)
	}
	if len(w.Product.MajorUpg) != 1 {
		t.Errorf("no MajorUpgrade")
	}
	// The recovery custom action runs this agent's service-recovery with
	// the service name and config path.
	var rec string
	for _, ca := range w.Product.CustomActs {
		if ca.ID == "SetRecovery" {
			rec = ca.Exe
			if ca.FileKey == "" || ca.Execute != "deferred" || ca.Imperson != "no" {
				t.Errorf("SetRecovery must run the installed exe, deferred, not impersonated: %+v", ca)
			}
		}
	}
	if got, want := splitWindowsArgs(resolveMSI(rec)), []string{"service-recovery", "--name", want.Name, "--start-if-config", want.Config}; !slices.Equal(got, want) {
		t.Errorf("SetRecovery runs %q, want %q", got, want)
	}
}

// --- the built packages (make dist; installer/ci-check.sh sets STEWARD_DIST) --

func distDir(t *testing.T) (dir, deb, msi string) {
	dir = os.Getenv("STEWARD_DIST")
	if dir == "" {
		t.Skip("STEWARD_DIST not set: run make dist-verify")
	}
	env := read(t, filepath.Join(os.Getenv("STEWARD_PKG_DIR"), "build.env"))
	get := func(k string) string {
		for _, l := range strings.Split(env, "\n") {
			if v, ok := strings.CutPrefix(l, k+"="); ok {
				return strings.Trim(v, "'")
			}
		}
		t.Fatalf("build.env has no %s", k)
		return ""
	}
	return dir, get("DEB_VERSION"), get("MSI_VERSION")
}

func TestBuiltDebsShipTheServiceUnits(t *testing.T) {
	dir, version, _ := distDir(t)
	for name, want := range Units() {
		pkg := strings.TrimSuffix(name, ".service")
		deb := filepath.Join(dir, pkg+"_"+version+"_amd64.deb")
		got, err := debFile(deb, "."+LinuxUnitDir+"/"+name)
		if err != nil {
			t.Fatalf("%s: %v", deb, err)
		}
		if got != want {
			t.Errorf("%s ships a unit that is not installer/service's:\n%s", deb, got)
		}
	}
}

func debFile(deb, name string) (string, error) {
	out, err := exec.Command("dpkg-deb", "--fsys-tarfile", deb).Output()
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err != nil {
			return "", errors.Join(errors.New("no "+name), err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			return string(b), err
		}
	}
}

// msiTable reads a table of the built MSI with msiinfo, keyed by its first
// column.
func msiTable(t *testing.T, msi, table string) map[string][]string {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msi, table).Output()
	if err != nil {
		t.Fatalf("msiinfo export %s %s: %v", msi, table, err)
	}
	rows := map[string][]string{}
	lines := strings.Split(strings.TrimRight(string(out), "\r\n"), "\n")
	for _, l := range lines[min(3, len(lines)):] { // header, types, table name
		f := strings.Split(strings.TrimRight(l, "\r"), "\t")
		rows[f[0]] = f
	}
	return rows
}

func TestBuiltMSIAgreesWithService(t *testing.T) {
	dir, version, msiVersion := distDir(t)
	msi := filepath.Join(dir, "steward-agent-"+version+"-x64.msi")
	want := AgentWindows()

	si := msiTable(t, msi, "ServiceInstall")
	if len(si) != 1 {
		t.Fatalf("ServiceInstall has %d rows, want 1", len(si))
	}
	for _, r := range si {
		// Name DisplayName ServiceType StartType ErrorControl LoadOrderGroup Dependencies StartName Password Arguments Component_ Description
		if r[1] != want.Name || r[2] != want.DisplayName || r[12] != want.Description {
			t.Errorf("ServiceInstall row %q does not name the agent's service", r)
		}
		if r[3] != "16" || r[4] != "2" {
			t.Errorf("ServiceInstall type %s start %s, want 16 (own process) and 2 (automatic)", r[3], r[4])
		}
		if r[8] != want.WindowsAccount {
			t.Errorf("ServiceInstall StartName %q, want %q", r[8], want.WindowsAccount)
		}
		if got := splitWindowsArgs(resolveMSI(r[10])); !slices.Equal(got, want.Arguments()) {
			t.Errorf("ServiceInstall Arguments %q resolve to %q, want %q", r[10], got, want.Arguments())
		}
	}
	sc := msiTable(t, msi, "ServiceControl")
	for _, r := range sc {
		ev, _ := strconv.Atoi(r[2])
		// msidbServiceControlEvent: 1 start on install, 2 stop on install,
		// 16 start on uninstall, 32 stop on uninstall, 128 delete on uninstall.
		if r[1] != want.Name || ev&(1|16) != 0 || ev&2 == 0 || ev&32 == 0 || ev&128 == 0 {
			t.Errorf("ServiceControl %q: want stop both ways and delete on uninstall, never start", r)
		}
	}
	if len(sc) != 1 {
		t.Errorf("ServiceControl has %d rows, want 1", len(sc))
	}

	reg := msiTable(t, msi, "Registry")
	values := map[string]string{}
	for _, r := range reg {
		if r[1] == "2" && strings.TrimSuffix(r[2], `\`) == `SYSTEM\CurrentControlSet\Services\EventLog\Application\`+want.Name {
			values[r[3]] = r[4]
		}
	}
	if got := resolveMSI(values["EventMessageFile"]); got != `C:\Windows\System32\EventCreate.exe` {
		t.Errorf("Event Log source EventMessageFile = %q", got)
	}
	if values["TypesSupported"] != "#7" {
		t.Errorf("Event Log source TypesSupported = %q, want #7 (error, warning, information)", values["TypesSupported"])
	}

	props := msiTable(t, msi, "Property")
	if got := props["ProductVersion"]; len(got) < 2 || got[1] != msiVersion {
		t.Errorf("ProductVersion %q, want %s", got, msiVersion)
	}
	up := msiTable(t, msi, "Upgrade")
	if len(up) == 0 {
		t.Errorf("no Upgrade rows: MajorUpgrade is missing")
	}

	ca := msiTable(t, msi, "CustomAction")
	rec, ok := ca["SetRecovery"]
	if !ok {
		t.Fatalf("no SetRecovery custom action")
	}
	// Type 18 (exe from an installed file) + 1024 deferred + 2048 no impersonation.
	if rec[1] != "3090" || rec[2] != "AgentExe" {
		t.Errorf("SetRecovery %q: want type 3090 running AgentExe", rec)
	}
	if got := splitWindowsArgs(resolveMSI(rec[3])); len(got) < 1 || got[0] != "service-recovery" {
		t.Errorf("SetRecovery runs %q", rec[3])
	}
	if rd, ok := ca["RemoveData"]; !ok || !strings.Contains(rd[3], "rmdir") {
		t.Errorf("no RemoveData custom action")
	}

	seq := map[string]int{}
	cond := map[string]string{}
	for k, r := range msiTable(t, msi, "InstallExecuteSequence") {
		seq[k], _ = strconv.Atoi(r[2])
		cond[k] = r[1]
	}
	before := func(a, b string) {
		if seq[a] == 0 || seq[b] == 0 || seq[a] >= seq[b] {
			t.Errorf("InstallExecuteSequence: %s (%d) must come before %s (%d)", a, seq[a], b, seq[b])
		}
	}
	before("InstallValidate", "RemoveExistingProducts")
	before("RemoveExistingProducts", "InstallInitialize") // old version out before the new one goes in
	before("InstallServices", "SetRecovery")
	before("SetRecovery", "StartServices")
	before("CreateFolders", "LockConfigFolder")
	before("RemoveFiles", "RemoveData")
	if !strings.Contains(cond["RemoveData"], `REMOVE_DATA="1"`) || !strings.Contains(cond["RemoveData"], "NOT UPGRADINGPRODUCTCODE") {
		t.Errorf("RemoveData runs on %q: want only on an uninstall asked for with REMOVE_DATA=1, never on an upgrade", cond["RemoveData"])
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
