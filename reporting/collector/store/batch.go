package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nhs-steward/steward/reporting/collector"
)

// Group commit. SQLite has one writer and each commit waits for the disk
// (synchronous=FULL), so the writer goroutine takes every submission
// waiting, stores each under its own savepoint (one bad submission does not
// undo the others) and commits them together. Nobody hears back before that
// commit returns.

// maxBatch bounds how many submissions share one commit.
const maxBatch = 128

type ingestReq struct {
	sub  *collector.Submission
	res  IngestResult
	err  error
	done chan struct{}
}

// ErrClosed is returned for work offered to a closed store.
var ErrClosed = errors.New("store is closed")

func (db *DB) startBatcher() {
	db.batch = make(chan *ingestReq)
	db.quit = make(chan struct{})
	db.done = make(chan struct{})
	go db.batcher()
}

func (db *DB) batcher() {
	defer close(db.done)
	for {
		var first *ingestReq
		select {
		case first = <-db.batch:
		case <-db.quit:
			return
		}
		reqs := []*ingestReq{first}
	more:
		for len(reqs) < maxBatch {
			select {
			case r := <-db.batch:
				reqs = append(reqs, r)
			default:
				break more
			}
		}
		db.commitBatch(reqs)
	}
}

func (db *DB) commitBatch(reqs []*ingestReq) {
	defer func() {
		for _, r := range reqs {
			close(r.done)
		}
	}()
	fail := func(err error) {
		for _, r := range reqs {
			if r.err == nil {
				r.err, r.res = err, IngestResult{}
			}
		}
	}
	// The batch outlives any one caller: a caller that gives up still has
	// its submission committed (it will retry and get a duplicate ack).
	ctx := context.Background()
	tx, h, err := db.begin(ctx)
	if err != nil {
		fail(err)
		return
	}
	for _, r := range reqs {
		if _, err := h.exec(ctx, "SAVEPOINT ingest"); err != nil {
			r.err = fmt.Errorf("savepoint: %w", err)
			continue
		}
		r.res, r.err = db.ingestTx(ctx, h, r.sub)
		stmts := []string{"RELEASE ingest"}
		if r.err != nil {
			stmts = []string{"ROLLBACK TO ingest", "RELEASE ingest"}
		}
		for _, stmt := range stmts {
			if _, err := h.exec(ctx, stmt); err != nil {
				_ = tx.Rollback()
				fail(fmt.Errorf("%s: %w", stmt, err))
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		slog.Error("group commit of submissions failed; none acknowledged", "submissions", len(reqs), "err", err)
		fail(fmt.Errorf("commit: %w", err))
	}
}

func (db *DB) ingestBatched(ctx context.Context, sub *collector.Submission) (IngestResult, error) {
	r := &ingestReq{sub: sub, done: make(chan struct{})}
	select {
	case db.batch <- r:
	case <-db.quit:
		return IngestResult{}, ErrClosed
	case <-ctx.Done():
		return IngestResult{}, ctx.Err()
	}
	// Once handed over, wait for the commit: the writer answers every
	// request it took, even while closing.
	<-r.done
	return r.res, r.err
}
