package service

import (
	"strings"
	"testing"
)

func TestAgentUnitIsHardenedAndAgreesWithArguments(t *testing.T) {
	s := Agent("/etc/steward/agent.yaml")
	unit := s.SystemdUnit()
	for _, want := range []string{
		"ExecStart=/usr/bin/steward-agent run --config /etc/steward/agent.yaml",
		"ConditionPathExists=/etc/steward/agent.yaml",
		"User=steward", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"StateDirectory=steward", "RestartPreventExitStatus=3", "WantedBy=multi-user.target",
	} {
		if !strings.Contains(unit, want+"\n") {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "{{") {
		t.Errorf("unit holds template syntax the service library would interpret")
	}
	c := s.ServiceConfig("/opt/steward/steward-agent")
	if got := strings.Join(c.Arguments, " "); got != "run --config /etc/steward/agent.yaml" {
		t.Errorf("service arguments = %q", got)
	}
	if c.Name != "steward-agent" {
		t.Errorf("service name = %q", c.Name)
	}
	if script, _ := c.Option["SystemdScript"].(string); script != "" && !strings.Contains(script, "ExecStart=/opt/steward/steward-agent run") {
		t.Errorf("install fallback unit does not start the given executable:\n%s", script)
	}
}
