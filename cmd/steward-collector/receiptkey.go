package main

import (
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/nhs-steward/steward/internal/fsutil"
	"github.com/nhs-steward/steward/reporting/wire"
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
			return nil, false, fmt.Errorf("write receipt key: %w: set receipt_key in the configuration to a file in a folder the service account can write (beside the store), or make the key there once as that account", err)
		}
		return priv, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("read receipt key: %w", err)
	}
	key, err = parseReceiptKey(path, b)
	return key, false, err
}

// describeReceiptKey says, for serve --check, what serve will do with the
// key at path, without making it.
func describeReceiptKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("receipt key %s: made on first start (its folder must be writable by the service account); back it up with the store", path), nil
	case err != nil:
		return "", fmt.Errorf("read receipt key: %w", err)
	}
	key, err := parseReceiptKey(path, b)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("receipt key %s: key id %s", path, wire.KeyID(key.Public().(ed25519.PublicKey))), nil
}

func parseReceiptKey(path string, b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != receiptKeyPEM || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("receipt key %s is not a steward-collector receipt key: restore it from the backup taken with the store (a new key would make every enrolled agent refuse the collector's receipts)", path)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}
