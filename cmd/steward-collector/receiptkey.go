package main

import (
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/nhs-steward/steward/internal/fsutil"
)

const receiptKeyPEM = "STEWARD COLLECTOR RECEIPT KEY"

// loadReceiptKey reads the collector's receipt-signing key from path,
// making it (mode 0600, written durably) when the file does not exist.
// made reports a new key, which agents enrolled before will not know.
func loadReceiptKey(path string) (key ed25519.PrivateKey, made bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, false, err
		}
		out := pem.EncodeToMemory(&pem.Block{Type: receiptKeyPEM, Bytes: priv.Seed()})
		if err := fsutil.WriteFileAtomic(path, out, 0o600); err != nil {
			return nil, false, fmt.Errorf("write receipt key: %w", err)
		}
		return priv, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("read receipt key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != receiptKeyPEM || len(blk.Bytes) != ed25519.SeedSize {
		return nil, false, fmt.Errorf("receipt key %s is not a steward-collector receipt key: restore it from the backup taken with the store (a new key would make every enrolled agent refuse the collector's receipts)", path)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), false, nil
}
