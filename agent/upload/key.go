package upload

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

func encodeKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

const pemType = "STEWARD ED25519 PRIVATE KEY"

// GenerateKey creates a new practice key and writes it to path (mode 0600),
// refusing to overwrite an existing key.
func GenerateKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: priv.Seed()})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("practice key %s already exists: the practice is enrolled with it (delete it only to re-enrol with a new code)", path)
		}
		return nil, fmt.Errorf("write practice key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("write practice key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write practice key: %w", err)
	}
	return priv, f.Close()
}

// LoadKey reads a practice key written by GenerateKey.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no practice key at %s: run `steward-agent enrol --code CODE` with the code from your ICB", path)
		}
		return nil, fmt.Errorf("read practice key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemType || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("practice key %s is not a Steward key", path)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}
