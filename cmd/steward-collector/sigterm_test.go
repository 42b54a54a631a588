//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/server/servertest"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/wire"
)

// TestSIGTERMFinishesSubmissionInFlight runs the steward-collector binary
// as a service manager does, sends it SIGTERM while a signed submission's
// body is still arriving, and checks that it stops listening at once, still
// acknowledges and stores that submission, and exits 0.
func TestSIGTERMFinishesSubmissionInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the steward-collector binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "steward-collector")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build steward-collector: %v\n%s", err, out)
	}
	cfg := writeConfig(t, dir, "shutdown_timeout: 1m\n")

	// An enrolled practice, its key held by the test.
	ctx := context.Background()
	dbPath := "sqlite:" + filepath.Join(dir, "collector.db")
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	code, _ := auth.NewEnrolmentCode()
	now := time.Now()
	err = db.Migrate(ctx)
	if err == nil {
		err = db.AddPractice(ctx, collector.Practice{ODS: "Y01234", Name: "Riverside Surgery", ICB: "QWE"}, "test")
	}
	if err == nil {
		err = db.AddEnrolmentCode(ctx, "Y01234", auth.HashEnrolmentCode(code), now, now.Add(time.Hour), "test")
	}
	if err == nil {
		_, err = db.Enrol(ctx, "Y01234", auth.HashEnrolmentCode(code), pub, wire.KeyID(pub), now)
	}
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "serve", "--config", cfg)
	pr, pw := io.Pipe()
	cmd.Stderr = pw // Wait returns once all of it is copied
	log := watchLog(pr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); pw.Close(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})
	addr := log.waitFor(t, listenRE)[1]

	doc := servertest.Document("Y01234", "2025-03-31", 41)
	req, err := http.NewRequest("POST", "http://"+addr+wire.PathSubmissions, bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(wire.HeaderIdempotencyKey, "sigterm-0001")
	wire.Sign(req, priv, "Y01234", doc, time.Now())
	slow := servertest.StartSlow(t, addr, req)
	if err := slow.Send(doc[:len(doc)/2]); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, regexp.MustCompile(`msg="shutting down: .*" in_flight=1 `))
	servertest.WaitRefused(t, addr)

	if err := slow.Send(doc[len(doc)/2:]); err != nil {
		t.Fatalf("the rest of the body after SIGTERM: %v", err)
	}
	resp, body, err := slow.Response()
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("submission in flight at SIGTERM: %v %v %s; log:\n%s", resp, err, body, log)
	}
	var ack wire.Ack
	if err := json.Unmarshal(body, &ack); err != nil || ack.SubmissionID != "sigterm-0001" {
		t.Fatalf("ack %s: %v", body, err)
	}
	<-exited
	if exitErr != nil {
		t.Fatalf("steward-collector after SIGTERM: %v (want exit status 0); log:\n%s", exitErr, log)
	}
	log.waitFor(t, regexp.MustCompile(`msg=stopped`))

	db, err = store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, err := db.Submission(ctx, "Y01234", "sigterm-0001")
	if err != nil {
		t.Fatalf("the acknowledged submission is not stored: %v", err)
	}
	if !bytes.Equal(sub.Body, doc) || len(sub.Measures) != servertest.Measures || server.AckFor(sub).ReceivedAt != ack.ReceivedAt {
		t.Fatalf("stored %+v, acknowledged %+v", sub, ack)
	}
}
