package postgres

import (
	"strings"
	"testing"
)

func TestDSNAddsReadOnlyTimeoutAndNoJIT(t *testing.T) {
	got, err := DSN("postgres://reader@db.example/practice?sslmode=require")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"default_transaction_read_only=on", "connect_timeout=15", "jit=off", "sslmode=require"} {
		if !strings.Contains(got, want) {
			t.Errorf("DSN = %s, want it to hold %s", got, want)
		}
	}
	got, _ = DSN("postgres://reader@db.example/practice?jit=on&connect_timeout=3")
	if !strings.Contains(got, "jit=on") || !strings.Contains(got, "connect_timeout=3") {
		t.Errorf("DSN overrode the caller's settings: %s", got)
	}
	kv, _ := DSN("host=db dbname=practice")
	if !strings.Contains(kv, "default_transaction_read_only=on") || !strings.Contains(kv, "jit=off") {
		t.Errorf("key=value DSN = %s", kv)
	}
}
